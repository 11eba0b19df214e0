"""A webhook endpoint that verifies biometric-validation webhooks with the
Standard Webhooks library (PyPI: standardwebhooks) and processes each
webhook-id once.

    pip install --require-hashes -r requirements.txt
    WEBHOOK_SECRET=whsec_... PORT=8080 python server.py

Answers 200 "accepted" (verified, processed), 200 "duplicate" (verified,
already processed: a 2xx so that the sender stops retrying) or
400 "refused: <why>" (bad signature, timestamp more than 5 minutes from now,
missing headers).
"""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

# The project's secret, `whsec_...` (bvctl project create / rotate-secret).
webhook = Webhook(os.environ["WEBHOOK_SECRET"])
# The webhook-ids processed. In production: a table with a unique key on it.
seen: set[str] = set()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        # Verify the raw bytes as received, before any JSON parsing.
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            # Checks webhook-signature against webhook-id, webhook-timestamp
            # and the body, and webhook-timestamp within 5 minutes of now.
            event = webhook.verify(body, dict(self.headers))
        except WebhookVerificationError as e:
            return self.answer(400, f"refused: {e}")
        msg_id = self.headers["webhook-id"]
        if msg_id in seen:
            return self.answer(200, "duplicate")
        seen.add(msg_id)
        # Your processing here: event["type"], event["data"]["_id"], ...
        print(f"event {msg_id} {event['type']} {event['data']['_id']}", flush=True)
        self.answer(200, "accepted")

    def answer(self, status: int, text: str) -> None:
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(text.encode())))
        self.end_headers()
        self.wfile.write(text.encode())


server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "0"))), Handler)
print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
