// linli web chat. What residents and staff wrote is put into the page with
// textContent only, never as markup; the server's Content-Security-Policy
// forbids inline script besides. No libraries, no external files.
(function () {
  'use strict';

  var body = document.body;
  var TEXTS = JSON.parse(body.getAttribute('data-texts'));
  var MAX_PHOTO = parseInt(body.getAttribute('data-max-photo'), 10) || 1048576;
  // Aim below the server's limit: the request carries a little more than the picture.
  var TARGET = Math.floor(MAX_PHOTO * 0.9);
  var STORE_KEY = 'linli.chat';
  var KEEP = 200;

  var lang = TEXTS[body.getAttribute('data-lang')] ? body.getAttribute('data-lang') : 'zh-CN';
  var log = document.getElementById('log');
  var form = document.getElementById('composer');
  var input = document.getElementById('text');
  var sendBtn = document.getElementById('send');
  var photoBtn = document.getElementById('photo');
  var fileInput = document.getElementById('file');
  var locBtn = document.getElementById('loc');
  var langBtn = document.getElementById('lang');
  var quick = document.getElementById('quick');

  var transcript = []; // what this tab showed, kept across reloads
  var seen = {}; // outbox rows already shown
  var queue = Promise.resolve(); // messages go out one at a time, in order

  function t(key) {
    var v = TEXTS[lang] && TEXTS[lang][key];
    return v || TEXTS['zh-CN'][key] || key;
  }

  function applyLang(l) {
    if (!TEXTS[l]) return;
    lang = l;
    document.documentElement.lang = l;
    input.placeholder = t('placeholder');
    sendBtn.textContent = t('send');
    langBtn.textContent = t('switch_lang');
    [photoBtn, locBtn].forEach(function (b) {
      b.title = t(b.getAttribute('data-title'));
      b.setAttribute('aria-label', b.title);
    });
    Array.prototype.forEach.call(quick.querySelectorAll('button'), function (b) {
      b.textContent = t(b.getAttribute('data-label'));
    });
  }

  function newID() {
    var a = new Uint8Array(16);
    window.crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (x) { return (x + 256).toString(16).slice(1); }).join('');
  }

  function save() {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify({ transcript: transcript.slice(-KEEP), seen: seen }));
    } catch (e) { /* storage off: the page still works */ }
  }

  function restore() {
    var data;
    try { data = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null'); } catch (e) { data = null; }
    if (!data || !Array.isArray(data.transcript)) return;
    seen = data.seen && typeof data.seen === 'object' ? data.seen : {};
    data.transcript.forEach(function (e, i) {
      var last = i === data.transcript.length - 1;
      render(e, !last);
      transcript.push(e);
    });
  }

  // safeImage accepts only pictures of this site (uploads, /media/...).
  function safeImage(url) {
    return typeof url === 'string' && url.charAt(0) === '/' && url.charAt(1) !== '/' && url.charAt(1) !== '\\';
  }

  function render(e, stale) {
    var div = document.createElement('div');
    div.className = 'msg ' + (e.who === 'me' ? 'me' : e.who === 'note' ? 'note' : 'bot') + (e.error ? ' error' : '');
    if (e.blob) {
      var img = document.createElement('img');
      img.src = e.blob;
      img.alt = t('you_photo');
      div.appendChild(img);
    }
    if (e.image) {
      if (safeImage(e.image)) {
        var pic = document.createElement('img');
        pic.src = e.image;
        pic.alt = '';
        div.appendChild(pic);
      } else if (/^https?:\/\//i.test(e.image)) {
        var a = document.createElement('a');
        a.href = e.image;
        a.rel = 'noopener noreferrer';
        a.target = '_blank';
        a.textContent = t('photo_link');
        div.appendChild(a);
      }
    }
    if (e.text) div.appendChild(document.createTextNode(e.text));
    if (e.choices && e.choices.length) {
      var box = document.createElement('div');
      box.className = 'choices';
      e.choices.forEach(function (c) {
        var b = document.createElement('button');
        b.type = 'button';
        b.textContent = c.label;
        b.disabled = !!stale;
        b.addEventListener('click', function () { send({ payload: c.payload }, c.label); });
        box.appendChild(b);
      });
      div.appendChild(box);
    }
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function add(e, keep) {
    render(e, false);
    if (keep) {
      transcript.push({ who: e.who, text: e.text || (e.blob ? t('you_photo') : ''), choices: e.choices, image: e.image });
      if (transcript.length > KEEP) transcript.splice(0, transcript.length - KEEP);
      save();
    }
  }

  function note(key) { add({ who: 'note', text: t(key), error: true }, false); }

  function disableChoices() {
    Array.prototype.forEach.call(log.querySelectorAll('.choices button'), function (b) { b.disabled = true; });
  }

  function failure(status, retryAfter) {
    var err = new Error('http ' + status);
    err.status = status;
    err.retryAfter = retryAfter;
    return err;
  }

  function request(url, init, tries) {
    init.credentials = 'same-origin';
    init.cache = 'no-store';
    return fetch(url, init).then(function (r) {
      if (!r.ok) throw failure(r.status, parseInt(r.headers.get('Retry-After'), 10) || 0);
      return r.json();
    }, function (netErr) {
      // The network dropped: try again with the same message id, which the
      // server handles once however many copies arrive.
      if (tries > 1) {
        return new Promise(function (ok) { setTimeout(ok, 1500); }).then(function () { return request(url, init, tries - 1); });
      }
      throw failure(0, 0);
    });
  }

  function postJSON(url, data) {
    return request(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(data) }, 3);
  }

  function showReplies(data) {
    if (data && data.lang) applyLang(data.lang);
    ((data && data.replies) || []).forEach(function (r) {
      add({ who: 'bot', text: r.text, choices: r.choices, image: r.image_url }, true);
    });
  }

  function showError(err) {
    var s = err && err.status;
    if (s === 429) note('err_rate');
    else if (s === 413) note('err_too_large');
    else if (s === 415) note('err_type');
    else if (s === 403) note('err_origin');
    else if (!s) note('err_network');
    else note('err_server');
  }

  function send(msg, shown) {
    msg.id = newID();
    disableChoices();
    add({ who: 'me', text: shown }, true);
    queue = queue.then(function () { return postJSON('/api/message', msg); }).then(showReplies, showError);
    return queue;
  }

  // shrink re-encodes a photo as JPEG, smaller step by step, until it fits
  // under the server's limit. A picture the browser cannot decode is sent as
  // it is and the server judges its type.
  function shrink(file) {
    return new Promise(function (ok, fail) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () { URL.revokeObjectURL(url); ok(img); };
      img.onerror = function () { URL.revokeObjectURL(url); fail(new Error('decode')); };
      img.src = url;
    }).then(function (img) {
      var steps = [[1600, 0.85], [1280, 0.8], [1024, 0.72], [800, 0.65], [640, 0.6]];
      function attempt(i) {
        if (i >= steps.length) return null;
        var scale = Math.min(1, steps[i][0] / Math.max(img.naturalWidth, img.naturalHeight, 1));
        var c = document.createElement('canvas');
        c.width = Math.max(1, Math.round(img.naturalWidth * scale));
        c.height = Math.max(1, Math.round(img.naturalHeight * scale));
        var g = c.getContext('2d');
        g.fillStyle = '#fff'; // transparent PNG areas become white, not black
        g.fillRect(0, 0, c.width, c.height);
        g.drawImage(img, 0, 0, c.width, c.height);
        return new Promise(function (ok) { c.toBlob(ok, 'image/jpeg', steps[i][1]); }).then(function (b) {
          return b && b.size <= TARGET ? b : attempt(i + 1);
        });
      }
      return attempt(0);
    }, function () {
      return file;
    });
  }

  function sendPhoto(file) {
    disableChoices();
    shrink(file).then(function (blob) {
      if (!blob) { note('err_photo'); return; }
      if (blob.size > MAX_PHOTO) { note('err_too_large'); return; }
      add({ who: 'me', blob: URL.createObjectURL(blob) }, true);
      var id = newID();
      queue = queue.then(function () {
        return request('/api/photo?id=' + id, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: blob }, 3);
      }).then(showReplies, showError);
    });
  }

  function hello() {
    return postJSON('/api/hello', {}).then(function (data) {
      if (data.new) {
        // A new session: what this tab showed belonged to another one.
        log.textContent = '';
        transcript = [];
        seen = {};
        save();
      }
      showReplies(data);
      if (!data.new && transcript.length === 0) add({ who: 'bot', text: t('welcome_back') }, true);
      body.setAttribute('data-ready', '1');
    });
  }

  // poll collects what the outbox holds for this browser (staff replies,
  // reminders), shows each once and acknowledges it.
  function poll() {
    fetch('/api/events?wait=25', { credentials: 'same-origin', cache: 'no-store' }).then(function (r) {
      if (r.status === 401) return hello().then(function () { return 0; });
      if (r.status === 429) return (parseInt(r.headers.get('Retry-After'), 10) || 5) * 1000;
      if (!r.ok) return 5000;
      return r.json().then(function (data) {
        var ids = [];
        (data.messages || []).forEach(function (m) {
          ids.push(m.id);
          if (seen[m.id]) return;
          seen[m.id] = 1;
          add({ who: 'bot', text: m.text, choices: m.choices, image: m.image_url }, true);
        });
        if (!ids.length) return 0;
        return postJSON('/api/ack', { ids: ids }).then(function () { return 0; }, function () { return 3000; });
      });
    }).catch(function () { return 5000; }).then(function (delay) {
      setTimeout(poll, delay);
    });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = '';
    send({ text: text }, text);
  });
  Array.prototype.forEach.call(quick.querySelectorAll('button'), function (b) {
    b.addEventListener('click', function () {
      var w = t(b.getAttribute('data-word'));
      send({ text: w }, w);
    });
  });
  langBtn.addEventListener('click', function () {
    var w = t('switch_word');
    send({ text: w }, w);
  });
  photoBtn.addEventListener('click', function () { fileInput.click(); });
  fileInput.addEventListener('change', function () {
    var f = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    if (f) sendPhoto(f);
  });
  if (!('geolocation' in navigator) || !window.isSecureContext) {
    locBtn.classList.add('hidden');
  }
  locBtn.addEventListener('click', function () {
    navigator.geolocation.getCurrentPosition(function (p) {
      var lat = p.coords.latitude, lon = p.coords.longitude;
      send({ location: { lat: lat, lon: lon, label: '' } }, t('you_location').replace('%s', lat.toFixed(5) + ', ' + lon.toFixed(5)));
    }, function () { note('err_location'); }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  });

  applyLang(lang);
  restore();
  queue = hello().then(poll, function (err) {
    showError(err);
    // Try again; messages typed meanwhile wait in the queue.
    return new Promise(function (ok) { setTimeout(ok, 5000); }).then(hello).then(poll, showError);
  });
})();
