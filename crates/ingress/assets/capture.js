// The hosted capture page: asks the API for a challenge, takes one photo per
// step with the camera (or from file inputs when there is no camera), sends
// them to be validated and tells the person the result in plain words.
//
// The session token arrives in the URL fragment (never sent to a server),
// is read once and removed from the address bar, and is only ever put in
// the Authorization header: never shown, stored or logged. Captures live in
// memory only, and are dropped once an attempt is decided.
//
// Embedded in an iframe by a site the project allows (the page's CSP
// `frame-ancestors` lets no other frame it), the page tells the host page
// what happens with `postMessage`, to those origins only: the validation's
// id, the step, the outcome; never the token, a photo or a URL. It does not
// leave for the integrator's page: the host page decides what comes next.
'use strict';

(() => {
  const host = embedHost();
  const app = document.getElementById('app');
  if (!app) {
    // A page that only says how things stand (decided, expired): the host
    // hears the outcome.
    if (host && host.status) tell('outcome', { status: host.status });
    return;
  }

  const API = '/v2/biometric-validations';
  const COUNTDOWN_SECONDS = 3;
  const PAUSE_BETWEEN_STEPS_MS = 700;
  const POLL_EVERY_MS = 1000;
  const POLL_FOR_MS = 30000;
  const REDIRECT_AFTER_MS = 2000;
  const JPEG_QUALITY = 0.9;
  // While the person turns to a step's pose, the page keeps the last frames
  // (small JPEGs, one every BURST_EVERY_MS) and sends BURST_FRAMES of them
  // with the step's photo: the motion the server checks, not just the pose.
  const BURST_FRAMES = 5;
  const BURST_EVERY_MS = 200;
  const BURST_MAX_SIDE = 480;
  const BURST_QUALITY = 0.75;
  const UPLOAD_MAX_SIDE = 1280;
  // After a 413, every capture is re-encoded this small and sent once more.
  const SHRUNK_MAX_SIDE = 640;
  const SHRUNK_QUALITY = 0.75;
  // The longest wait a Retry-After may ask of the person.
  const WAIT_AT_MOST_S = 600;

  const $ = (id) => document.getElementById(id);
  const id = app.dataset.validationId;
  const strings = JSON.parse($('strings').textContent);
  const token = takeToken();

  const state = {
    mode: 'camera', // or 'upload': what "Try again" goes back to
    challenge: null, // {challengeId, steps, expiresAt}
    captures: [], // [{step, blob, burst: [blob]}]
    uploads: [], // a re-encoded blob per step, or null
    encoding: [], // the re-encodings in flight
    payload: null, // the validate body being sent
    shrunk: false,
    attemptsLeft: null, // from the last answer that said
    redirectUrl: null,
    stream: null,
    run: 0, // bumped to cancel a countdown or a poll in progress
    skip: null, // ends the countdown now
    action: null, // what the message view's button does
    redirectTimer: null,
    waitTimer: null, // counts down a Retry-After before the action is allowed
  };

  // ---- the token --------------------------------------------------------

  /** Reads `#token=…` and removes the fragment so it does not linger. */
  function takeToken() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ''));
    const value = params.get('token');
    if (location.hash) {
      history.replaceState(history.state, '', location.pathname + location.search);
    }
    return value || null;
  }

  // ---- the host page, when embedded ---------------------------------------

  /** The host page to tell, when the page is framed by an allowed origin. */
  function embedHost() {
    const found = document.getElementById('embed');
    if (!found || window.parent === window) return null;
    const allowed = (found.dataset.origins || '').split(' ').filter(Boolean);
    // Chromium and Safari name the parent's origin: post to it alone. Other
    // browsers: to each allowed origin; the browser delivers a message only
    // where the target is the parent's origin.
    const ancestors = window.location.ancestorOrigins;
    const parent = ancestors && ancestors.length ? ancestors[0] : null;
    const targets = parent ? allowed.filter((origin) => origin === parent) : allowed;
    if (!targets.length) return null;
    return { validationId: found.dataset.validationId, status: found.dataset.status || null, targets };
  }

  /** Posts `{source, event, validationId, …detail}` to the host page. */
  function tell(event, detail) {
    if (!host) return;
    const message = Object.assign({ source: 'biometric-validation', event, validationId: host.validationId }, detail);
    for (const origin of host.targets) window.parent.postMessage(message, origin);
  }

  // ---- views, announcements ---------------------------------------------

  const VIEWS = ['view-intro', 'view-no-token', 'view-busy', 'view-camera', 'view-upload', 'view-message'];

  /** Shows one view and moves focus to its heading (screen readers read it). */
  function show(view, focus = true) {
    for (const v of VIEWS) $(v).hidden = v !== view;
    const heading = $(view).querySelector('h1');
    if (focus && heading) heading.focus();
  }

  /** Says `text` through the polite live region. */
  function announce(text) {
    const region = $('status');
    region.textContent = '';
    // A change the next frame, so the same text twice is read twice.
    requestAnimationFrame(() => {
      region.textContent = text;
    });
  }

  function busy(text, note) {
    $('busy-title').textContent = text;
    $('busy-note').textContent = note || '';
    $('busy-note').hidden = !note;
    show('view-busy');
  }

  /** The message view: an outcome or an error, with at most one action. */
  function message({ icon, title, text, extra, action }) {
    cancelRedirect();
    cancelWait();
    $('icon-done').hidden = icon !== 'done';
    $('icon-alert').hidden = icon !== 'alert';
    $('message-title').textContent = title;
    $('message-text').textContent = text || '';
    $('message-extra').textContent = extra || '';
    $('message-extra').hidden = !extra;
    const button = $('message-action');
    button.hidden = !action;
    button.disabled = false;
    state.action = action ? action[1] : null;
    if (action) button.textContent = action[0];
    $('redirect').hidden = true;
    $('continue').hidden = true;
    show('view-message');
    announce([text, extra].filter(Boolean).join(' '));
  }

  const fill = (template, values) =>
    template.replace(/\{(\w+)\}/g, (all, key) => (key in values ? String(values[key]) : all));

  // ---- the API ----------------------------------------------------------

  /** One API call with the session token: {ok, status, data, code, error}. */
  async function call(method, path, body) {
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + token };
    const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, code: 'NETWORK' };
    }
    let json = null;
    try {
      json = await response.json();
    } catch (err) {
      // Not JSON (a proxy's error page): judged by its status alone.
    }
    return {
      ok: response.ok && !!json && json.success === true,
      status: response.status,
      data: json && json.data,
      code: json && json.code,
      error: json && json.error,
      retryAfter: retryAfter(response.headers.get('Retry-After')),
    };
  }

  /** Retry-After in whole seconds (delta-seconds or an HTTP date), or null. */
  function retryAfter(value) {
    if (!value) return null;
    const text = value.trim();
    const seconds = /^\d+$/.test(text) ? Number(text) : Math.ceil((Date.parse(text) - Date.now()) / 1000);
    if (!Number.isFinite(seconds) || seconds <= 0) return null;
    return Math.min(seconds, WAIT_AT_MOST_S);
  }

  /** How long a refused call asks the person to wait: 429 (too fast) or 503 (busy). */
  function waitOf(answer) {
    if (answer.status === 429) return { kind: 'tooFast', seconds: answer.retryAfter || 1 };
    if (answer.status === 503 && answer.retryAfter) return { kind: 'busy', seconds: answer.retryAfter };
    return null;
  }

  /** "Wait N seconds" in the page's language, with N in the right form. */
  function waitText(kind, seconds) {
    const forms = strings.wait[kind];
    return fill(seconds === 1 ? forms.one : forms.other, { n: seconds });
  }

  /** The words for a failed call: ours for the codes we know, else the server's sentence. */
  function errorText(answer) {
    const known = strings.errors;
    if (answer.code && known[answer.code]) return known[answer.code];
    if (answer.status === 401) return known.UNAUTHORIZED;
    if (answer.status === 413) return known.PAYLOAD_TOO_LARGE;
    if (answer.status === 503) return known.SERVICE_UNAVAILABLE;
    if (answer.error && answer.status >= 400 && answer.status < 500) return answer.error;
    return known.default;
  }

  /** A failed call, said plainly, with Retry where retrying can help. */
  function failed(answer, during) {
    tell('error', { during, httpStatus: answer.status, code: answer.code || null });
    if (answer.code === 'VALIDATION_CLOSED') return closed();
    const wait = waitOf(answer);
    let action = null;
    let title = strings.errorTitle;
    if ([401, 403, 404].includes(answer.status)) {
      title = strings.invalidLinkTitle; // retrying cannot help
    } else if (during === 'send' && (answer.status === 0 || answer.status >= 500 || wait)) {
      action = [strings.sendAgain, post]; // the same photos, same challenge
    } else if (during === 'poll') {
      action = [strings.checkAgain, poll];
    } else {
      action = [strings.tryAgain, () => begin(state.mode)];
    }
    if (!wait) return message({ icon: 'alert', title, text: errorText(answer), action });
    // Too fast, or busy: say how long to wait, and hold the action until then.
    title = wait.kind === 'tooFast' ? strings.tooFastTitle : strings.busyTitle;
    message({ icon: 'alert', title, text: waitText(wait.kind, wait.seconds), action });
    holdAction(wait.kind, wait.seconds);
  }

  /** Counts the wait down on screen with the action disabled, then allows it. */
  function holdAction(kind, seconds) {
    const button = $('message-action');
    const text = $('message-text');
    let left = seconds;
    button.disabled = true;
    const tick = () => {
      left -= 1;
      if (left > 0) {
        text.textContent = waitText(kind, left);
        state.waitTimer = setTimeout(tick, 1000);
        return;
      }
      state.waitTimer = null;
      text.textContent = strings.wait.over;
      button.disabled = false;
      announce(strings.wait.over);
    };
    state.waitTimer = setTimeout(tick, 1000);
  }

  function cancelWait() {
    clearTimeout(state.waitTimer);
    state.waitTimer = null;
  }

  /** Decided or expired meanwhile: the page itself says which, without the token. */
  function closed() {
    message({
      icon: 'alert',
      title: strings.closedTitle,
      text: strings.errors.VALIDATION_CLOSED,
      action: [strings.seeStatus, () => location.replace(location.pathname)],
    });
  }

  const isFinal = (status) => status === 'validated' || status === 'failed' || status === 'expired';
  const count = (value) => (typeof value === 'number' && value >= 0 ? value : null);

  // ---- the journey ------------------------------------------------------

  /** Start (or Try again): a fresh challenge, then the camera or the file inputs. */
  async function begin(mode) {
    state.mode = mode;
    state.run += 1;
    tell('started', { mode });
    stopCamera();
    busy(strings.preparing);
    // Best effort: the attempts left tell a decided attempt while polling,
    // and the redirect is known even if a later answer omits it.
    const view = await call('GET', `${API}/${id}`);
    if (view.ok && view.data) {
      state.attemptsLeft = count(view.data.attemptsLeft);
      if (view.data.redirectUrl) state.redirectUrl = view.data.redirectUrl;
      if (isFinal(view.data.status)) return closed();
    }
    const answer = await call('GET', `${API}/${id}/challenge`);
    if (!answer.ok || !answer.data) return failed(answer, 'challenge');
    const steps = Array.isArray(answer.data.steps) && answer.data.steps.length ? answer.data.steps : ['front'];
    state.challenge = { challengeId: answer.data.challengeId, steps };
    state.captures = [];
    state.shrunk = false;
    if (mode === 'camera') return startCamera();
    return showUpload(null);
  }

  async function startCamera() {
    const media = navigator.mediaDevices;
    if (!media || !media.getUserMedia) return showUpload(strings.cameraMissing);
    busy(strings.cameraStarting);
    const run = state.run;
    let stream;
    try {
      stream = await media.getUserMedia({
        video: { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
    } catch (err) {
      const missing = err && (err.name === 'NotFoundError' || err.name === 'OverconstrainedError');
      return showUpload(missing ? strings.cameraMissing : strings.cameraDenied);
    }
    if (run !== state.run) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    state.stream = stream;
    const video = $('video');
    video.srcObject = stream;
    try {
      await video.play();
    } catch (err) {
      // Autoplay of a muted inline video is allowed; frames still arrive.
    }
    if (!(await framesArrive(video)) || run !== state.run) {
      stopCamera();
      if (run === state.run) showUpload(strings.cameraDenied);
      return;
    }
    show('view-camera');
    takeSteps(run);
  }

  /** Waits up to 5 s for the video to have a size. */
  async function framesArrive(video) {
    for (let i = 0; i < 50 && !video.videoWidth; i++) await sleep(100);
    return video.videoWidth > 0;
  }

  function stopCamera() {
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
    const video = $('video');
    if (video) video.srcObject = null;
  }

  async function takeSteps(run) {
    const steps = state.challenge.steps;
    for (let i = 0; i < steps.length; i++) {
      const prompt = strings.prompts[steps[i]] || steps[i];
      setStep(i, steps.length, steps[i], prompt);
      announce(steps.length > 1 ? `${fill(strings.stepOf, { n: i + 1, total: steps.length })}. ${prompt}` : prompt);
      // A turn is recorded while it happens; the front needs no motion.
      const recording = steps[i] === 'front' ? null : record();
      await countdown(run);
      const burst = recording ? await recording.stop() : [];
      if (run !== state.run) return;
      const blob = await grab();
      if (run !== state.run) return;
      if (!blob) return showUpload(strings.cameraDenied);
      state.captures.push({ step: steps[i], blob, burst });
      flash();
      announce(strings.captured);
      if (i + 1 < steps.length) await sleep(PAUSE_BETWEEN_STEPS_MS);
      if (run !== state.run) return;
    }
    stopCamera();
    send();
  }

  function setStep(i, total, step, prompt) {
    tell('step', { step, number: i + 1, of: total });
    $('step-label').textContent = fill(strings.stepOf, { n: i + 1, total });
    $('step-label').hidden = total < 2;
    const progress = $('step-progress');
    progress.max = total;
    progress.value = i + 1;
    progress.hidden = total < 2;
    $('prompt').textContent = prompt;
    document.querySelector('.viewfinder').dataset.step = step;
  }

  /** Counts down on screen; "Take photo" ends it at once. */
  function countdown(run) {
    return new Promise((resolve) => {
      const shown = $('countdown');
      let left = COUNTDOWN_SECONDS;
      let timer = null;
      const done = () => {
        clearTimeout(timer);
        shown.textContent = '';
        state.skip = null;
        resolve();
      };
      const tick = () => {
        if (left === 0 || run !== state.run) return done();
        shown.textContent = String(left);
        left -= 1;
        timer = setTimeout(tick, 1000);
      };
      state.skip = done;
      tick();
    });
  }

  function flash() {
    const frame = document.querySelector('.viewfinder');
    frame.classList.add('taken');
    setTimeout(() => frame.classList.remove('taken'), 250);
  }

  /** The current camera frame as a JPEG blob (as the camera sees it, not mirrored). */
  function grab() {
    const video = $('video');
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    return jpeg(canvas, JPEG_QUALITY);
  }

  const jpeg = (canvas, quality) => new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', quality));

  /**
   * Keeps the camera's last BURST_FRAMES frames, small, one every
   * BURST_EVERY_MS, until `stop()`, which resolves to them (oldest first).
   */
  function record() {
    const video = $('video');
    const kept = [];
    const pending = [];
    const timer = setInterval(() => {
      if (!video.videoWidth) return;
      const scale = Math.min(1, BURST_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
      const canvas = document.createElement('canvas');
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
      const encoded = jpeg(canvas, BURST_QUALITY).then((blob) => {
        if (!blob) return;
        kept.push(blob);
        if (kept.length > BURST_FRAMES) kept.shift();
      });
      pending.push(encoded);
    }, BURST_EVERY_MS);
    return {
      async stop() {
        clearInterval(timer);
        await Promise.all(pending);
        return kept.slice();
      },
    };
  }

  // ---- the file-input fallback -------------------------------------------

  /** One file input per step; `note` says why the camera is not used. */
  function showUpload(note) {
    state.run += 1;
    stopCamera();
    const steps = state.challenge.steps;
    state.uploads = steps.map(() => null);
    state.encoding = [];
    const list = $('upload-list');
    list.textContent = '';
    steps.forEach((step, i) => {
      const item = document.createElement('li');
      item.className = 'upload';
      const input = document.createElement('input');
      input.type = 'file';
      input.id = `photo-${i + 1}`;
      input.accept = 'image/*';
      input.setAttribute('capture', 'user');
      input.dataset.step = step;
      const label = document.createElement('label');
      label.htmlFor = input.id;
      label.textContent = strings.uploadLabels[step] || step;
      const preview = document.createElement('img');
      preview.className = 'thumb';
      preview.alt = '';
      preview.hidden = true;
      const problem = document.createElement('p');
      problem.className = 'error';
      problem.id = `${input.id}-problem`;
      problem.hidden = true;
      input.setAttribute('aria-describedby', problem.id);
      input.addEventListener('change', () => {
        state.encoding[i] = choose(i, input, preview, problem);
      });
      item.append(label, input, preview, problem);
      list.append(item);
    });
    $('upload-note').textContent = note || '';
    $('upload-note').hidden = !note;
    $('upload-error').hidden = true;
    show('view-upload');
    if (note) announce(note);
  }

  async function choose(i, input, preview, problem) {
    const item = input.closest('li');
    state.uploads[i] = null;
    item.classList.remove('done');
    problem.hidden = true;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.removeAttribute('src');
    preview.hidden = true;
    const file = input.files && input.files[0];
    if (!file) return;
    const blob = await reencode(file, UPLOAD_MAX_SIDE, JPEG_QUALITY);
    if (!blob) {
      problem.textContent = strings.photoUnreadable;
      problem.hidden = false;
      announce(strings.photoUnreadable);
      return;
    }
    state.uploads[i] = blob;
    item.classList.add('done');
    preview.src = URL.createObjectURL(blob);
    preview.hidden = false;
    $('upload-error').hidden = true;
    announce(strings.photoAdded);
  }

  async function sendUploads() {
    await Promise.all(state.encoding.filter(Boolean));
    const missing = state.uploads.findIndex((blob) => !blob);
    if (missing >= 0) {
      $('upload-error').textContent = strings.uploadMissing;
      $('upload-error').hidden = false;
      announce(strings.uploadMissing);
      $(`photo-${missing + 1}`).focus();
      return;
    }
    state.captures = state.challenge.steps.map((step, i) => ({ step, blob: state.uploads[i] }));
    send();
  }

  /** Decodes any image the browser can, and writes it as a JPEG of at most `maxSide` px. */
  async function reencode(blob, maxSide, quality) {
    let source;
    try {
      source = window.createImageBitmap ? await createImageBitmap(blob) : await loadImage(blob);
    } catch (err) {
      return null;
    }
    const width = source.width || source.naturalWidth;
    const height = source.height || source.naturalHeight;
    if (!width || !height) return null;
    const scale = Math.min(1, maxSide / Math.max(width, height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    canvas.getContext('2d').drawImage(source, 0, 0, canvas.width, canvas.height);
    if (source.close) source.close();
    return jpeg(canvas, quality);
  }

  function loadImage(blob) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(blob);
      const img = new Image();
      img.onload = () => {
        URL.revokeObjectURL(url);
        resolve(img);
      };
      img.onerror = () => {
        URL.revokeObjectURL(url);
        reject(new Error('not an image'));
      };
      img.src = url;
    });
  }

  // ---- sending, polling, the outcome --------------------------------------

  async function send() {
    tell('sending', {});
    busy(strings.sending, strings.sendingNote);
    state.payload = await payload();
    post();
  }

  async function payload() {
    const frames = [];
    for (const capture of state.captures) {
      const frame = { step: capture.step, image: await base64(capture.blob) };
      if (capture.burst && capture.burst.length) {
        frame.burst = await Promise.all(capture.burst.map(base64));
      }
      frames.push(frame);
    }
    return { os: 'web', challengeId: state.challenge.challengeId, frames };
  }

  function base64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => {
        const url = String(reader.result);
        resolve(url.slice(url.indexOf(',') + 1));
      };
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  async function post() {
    busy(strings.sending, strings.sendingNote);
    const answer = await call('POST', `${API}/validate`, state.payload);
    if (answer.status === 413 && !state.shrunk) {
      state.shrunk = true;
      for (const capture of state.captures) {
        capture.blob = (await reencode(capture.blob, SHRUNK_MAX_SIDE, SHRUNK_QUALITY)) || capture.blob;
        if (capture.burst) {
          for (let k = 0; k < capture.burst.length; k++) {
            capture.burst[k] =
              (await reencode(capture.burst[k], SHRUNK_MAX_SIDE / 2, SHRUNK_QUALITY)) || capture.burst[k];
          }
        }
      }
      state.payload = await payload();
      return post();
    }
    if (answer.status === 202) return poll(); // queued: the worker decides soon
    if (!answer.ok || !answer.data) return failed(answer, 'send');
    const data = answer.data;
    if (data.redirectUrl) state.redirectUrl = data.redirectUrl;
    outcome(data.status, data.attempt && data.attempt.reasons, count(data.attemptsLeft));
  }

  /** After a 202: the validation's status every second, for up to 30 s. */
  async function poll() {
    const run = ++state.run;
    busy(strings.sending, strings.sendingNote);
    const before = state.attemptsLeft;
    const until = Date.now() + POLL_FOR_MS;
    while (Date.now() < until) {
      await sleep(POLL_EVERY_MS);
      if (run !== state.run) return;
      const answer = await call('GET', `${API}/${id}`);
      if (run !== state.run) return;
      if (!answer.ok || !answer.data) {
        if ([401, 403, 404].includes(answer.status)) return failed(answer, 'poll');
        // Asked to slow down: the next look waits as long as asked.
        const wait = waitOf(answer);
        if (wait) await sleep(Math.min(wait.seconds * 1000, Math.max(0, until - Date.now())));
        continue;
      }
      const data = answer.data;
      if (data.redirectUrl) state.redirectUrl = data.redirectUrl;
      const left = count(data.attemptsLeft);
      // Decided, or one attempt fewer than before sending: this one failed.
      const used = before !== null && left !== null && left < before;
      if (isFinal(data.status) || (data.status !== 'new' && used)) {
        const last = data.lastAttempt;
        return outcome(data.status, last && last.reasons, left);
      }
    }
    message({
      icon: 'alert',
      title: strings.stillChecking,
      text: strings.stillCheckingText,
      action: [strings.checkAgain, poll],
    });
  }

  function outcome(status, reasons, attemptsLeft) {
    // The photos are no longer needed by anyone.
    state.captures = [];
    state.uploads = [];
    state.payload = null;
    state.attemptsLeft = attemptsLeft;
    if (isFinal(status)) {
      tell('outcome', { status });
    } else {
      const codes = Array.isArray(reasons) ? reasons.filter((r) => typeof r === 'string') : [];
      tell('retry', { status, attemptsLeft, reasons: codes });
    }
    if (status === 'validated') {
      message({ icon: 'done', title: strings.verifiedTitle, text: strings.verifiedText });
      return redirect('validated');
    }
    if (status === 'failed') {
      message({ icon: 'alert', title: strings.failedTitle, text: strings.failedText });
      return redirect('failed');
    }
    if (status === 'expired') {
      return message({ icon: 'alert', title: strings.expiredTitle, text: strings.expiredText });
    }
    // pending (or new): this attempt failed and another is allowed.
    const left =
      attemptsLeft === null
        ? ''
        : fill(attemptsLeft === 1 ? strings.attemptsLeft.one : strings.attemptsLeft.other, { n: attemptsLeft });
    message({
      icon: 'alert',
      title: strings.retryTitle,
      text: hints(reasons),
      extra: left,
      action: [strings.tryAgain, () => begin(state.mode)],
    });
  }

  /** What to do differently, from the attempt's reason codes. */
  function hints(reasons) {
    const said = [];
    for (const reason of Array.isArray(reasons) ? reasons : []) {
      const hint = strings.reasons[reason];
      if (hint && !said.includes(hint)) said.push(hint);
    }
    return said.length ? said.slice(0, 2).join(' ') : strings.reasons.default;
  }

  /** Goes on to the integrator's page with `id` and `status`, after a moment. */
  function redirect(status) {
    // Embedded: the host page heard the outcome and decides what is next.
    if (host) return;
    const target = withResult(state.redirectUrl, status);
    if (!target) return;
    const link = $('continue');
    link.href = target;
    link.hidden = false;
    $('redirect-text').textContent = strings.redirecting;
    $('redirect').hidden = false;
    state.redirectTimer = setTimeout(() => location.assign(target), REDIRECT_AFTER_MS);
  }

  function cancelRedirect() {
    clearTimeout(state.redirectTimer);
    state.redirectTimer = null;
  }

  /** `url` with `id` and `status` set in its query; only http(s). */
  function withResult(url, status) {
    if (!url) return null;
    let target;
    try {
      target = new URL(url);
    } catch (err) {
      return null;
    }
    if (target.protocol !== 'https:' && target.protocol !== 'http:') return null;
    target.searchParams.set('id', id);
    target.searchParams.set('status', status);
    return target.toString();
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ---- wiring -------------------------------------------------------------

  $('start').addEventListener('click', () => begin('camera'));
  $('use-photo').addEventListener('click', () => begin('upload'));
  $('shoot').addEventListener('click', () => {
    if (state.skip) state.skip();
  });
  $('camera-to-upload').addEventListener('click', () => {
    state.mode = 'upload';
    showUpload(null);
  });
  $('send-uploads').addEventListener('click', sendUploads);
  $('message-action').addEventListener('click', () => {
    if (state.action) state.action();
  });
  // Leaving the page turns the camera off.
  window.addEventListener('pagehide', stopCamera);

  show(token ? 'view-intro' : 'view-no-token', false);
  tell('ready', { hasToken: !!token });
})();
