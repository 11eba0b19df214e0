// A webhook endpoint that verifies biometric-validation webhooks with the
// Standard Webhooks library (npm: standardwebhooks) and processes each
// webhook-id once.
//
//   npm ci && WEBHOOK_SECRET=whsec_... PORT=8080 node server.js
//
// Answers 200 "accepted" (verified, processed), 200 "duplicate" (verified,
// already processed: a 2xx so that the sender stops retrying) or
// 400 "refused: <why>" (bad signature, timestamp more than 5 minutes from
// now, missing headers).
"use strict";
const http = require("node:http");
const { Webhook } = require("standardwebhooks");

// The project's secret, `whsec_...` (bvctl project create / rotate-secret).
const webhook = new Webhook(process.env.WEBHOOK_SECRET);
// The webhook-ids processed. In production: a table with a unique key on it.
const seen = new Set();

function answer(res, status, text) {
  res.writeHead(status, { "content-type": "text/plain" }).end(text);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    // Verify the raw bytes as received, before any JSON parsing.
    const body = Buffer.concat(chunks);
    let event;
    try {
      // Checks webhook-signature against webhook-id, webhook-timestamp and
      // the body, and webhook-timestamp within 5 minutes of now.
      event = webhook.verify(body, req.headers);
    } catch (err) {
      return answer(res, 400, `refused: ${err.message}`);
    }
    const id = req.headers["webhook-id"];
    if (seen.has(id)) {
      return answer(res, 200, "duplicate");
    }
    seen.add(id);
    // Your processing here: event.type, event.data._id, event.data.status...
    console.log(`event ${id} ${event.type} ${event.data._id}`);
    answer(res, 200, "accepted");
  });
});

server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
