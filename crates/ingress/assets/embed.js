// Mounts the hosted capture page inside the integrator's own page, in an
// iframe, and hands its events to the page. The project must allow the
// page's origin first (`bvctl project update ID --embed-origin ORIGIN`):
// the capture page may be framed by no other site.
//
//   <script src="https://bv.example.com/validate/embed.js"></script>
//   <div id="verify"></div>
//   <script>
//     const capture = BiometricValidation.mount(document.getElementById('verify'), {
//       url: link, // the validation's `url` from the create answer, with its #token=…
//       onEvent: (event) => console.log(event.event, event),
//       onOutcome: (event) => finish(event.status), // validated, failed or expired
//     });
//     // capture.unmount() removes the frame (and turns the camera off).
//   </script>
//
// Events are plain objects `{source: 'biometric-validation', event,
// validationId, …}`: `ready`, `started` {mode}, `step` {step, number, of},
// `sending`, `retry` {status, attemptsLeft, reasons}, `error` {during,
// httpStatus, code}, `outcome` {status}. They never carry the token or a
// photo. Only messages from the frame itself, from the link's origin, are
// passed on. The same events are dispatched on the container as
// `biometric-validation` CustomEvents (`event.detail`).
(function () {
  'use strict';

  const SOURCE = 'biometric-validation';

  function mount(container, options) {
    if (!container || typeof container.appendChild !== 'function') {
      throw new TypeError('BiometricValidation.mount: the first argument must be an element');
    }
    const settings = options || {};
    let link;
    try {
      link = new URL(settings.url);
    } catch (err) {
      throw new TypeError('BiometricValidation.mount: `url` must be the validation\'s absolute link');
    }
    if (link.protocol !== 'https:' && link.protocol !== 'http:') {
      throw new TypeError('BiometricValidation.mount: `url` must be an http(s) link');
    }
    if (!/(^|[#&])token=/.test(link.hash.replace(/^#/, '&'))) {
      throw new TypeError('BiometricValidation.mount: `url` has no #token=… (use the link as created)');
    }

    const frame = document.createElement('iframe');
    frame.src = link.href;
    // The camera, delegated to the frame's origin only.
    frame.allow = 'camera ' + link.origin;
    frame.title = settings.title || 'Identity verification';
    frame.referrerPolicy = 'no-referrer';
    frame.style.border = '0';
    frame.style.width = settings.width || '100%';
    frame.style.height = settings.height || '720px';

    function onMessage(message) {
      if (message.source !== frame.contentWindow || message.origin !== link.origin) return;
      const data = message.data;
      if (!data || typeof data !== 'object' || data.source !== SOURCE) return;
      const event = Object.assign({}, data);
      if (typeof settings.onEvent === 'function') settings.onEvent(event);
      if (event.event === 'outcome' && typeof settings.onOutcome === 'function') settings.onOutcome(event);
      container.dispatchEvent(new CustomEvent(SOURCE, { detail: event }));
    }

    window.addEventListener('message', onMessage);
    container.appendChild(frame);
    return {
      frame,
      unmount() {
        window.removeEventListener('message', onMessage);
        frame.remove();
      },
    };
  }

  window.BiometricValidation = Object.freeze({ mount });
})();
