// Settings page: "Enable notifications on this device". Registers the service worker (/sw.js,
// scope /), asks for permission, subscribes with the server's VAPID key (the page's
// data-vapid-key) and posts the subscription to /settings (push=subscribe, form-encoded, with the
// page's CSRF token); "Turn off on this device" unsubscribes and tells the server (push=unsubscribe).
// Without JavaScript the section stays hidden.
(function () {
  'use strict';
  var box = document.getElementById('push-device');
  var settings = document.getElementById('push-settings');
  if (!box || !settings) {
    return;
  }
  var enable = document.getElementById('push-enable');
  var disable = document.getElementById('push-disable');
  var status = document.getElementById('push-status');
  var csrfField = document.querySelector('input[name="csrf"]');
  var vapidKey = settings.getAttribute('data-vapid-key') || '';
  box.hidden = false;

  function say(text, isError) {
    status.textContent = text;
    status.className = isError ? 'error' : 'hint';
  }

  function show(subscribed) {
    enable.hidden = subscribed;
    disable.hidden = !subscribed;
    enable.disabled = false;
    disable.disabled = false;
  }

  function keyBytes(base64url) {
    var padded = base64url.replace(/-/g, '+').replace(/_/g, '/');
    padded += '===='.slice((padded.length + 3) % 4 + 1);
    var raw = window.atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes;
  }

  function post(fields) {
    var body = new URLSearchParams();
    body.append('csrf', csrfField ? csrfField.value : '');
    Object.keys(fields).forEach(function (name) {
      body.append(name, fields[name]);
    });
    return fetch('/settings', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: body
    }).then(function (response) {
      if (response.status === 204) {
        return;
      }
      return response.text().then(function (text) {
        throw new Error(text && text.length < 300 ? text : 'The server answered ' + response.status + '.');
      });
    });
  }

  var supported = window.isSecureContext && 'serviceWorker' in navigator &&
    'PushManager' in window && 'Notification' in window;
  if (!supported) {
    enable.disabled = true;
    say(window.isSecureContext
      ? 'This browser cannot receive push notifications. (On iPhone and iPad, add Smart Mailbox to your Home Screen first, then open it from there.)'
      : 'Push notifications need a secure (https) connection to the portal.', true);
    return;
  }
  if (Notification.permission === 'denied') {
    enable.disabled = true;
    say('Notifications are blocked for this site. Allow them in your browser\'s site settings, then reload this page.', true);
  }

  var registration = navigator.serviceWorker.register('/sw.js', { scope: '/' });
  registration.then(function (reg) {
    return reg.pushManager.getSubscription();
  }).then(function (subscription) {
    if (subscription && Notification.permission === 'granted') {
      show(true);
      say('Notifications are on for this device.', false);
    }
  }).catch(function () {
    enable.disabled = true;
    say('This browser would not start the notification worker, so it cannot receive push notifications.', true);
  });

  enable.addEventListener('click', function () {
    enable.disabled = true;
    say('Asking your browser for permission…', false);
    var asked = new Promise(function (resolve) {
      // Older Safari takes a callback instead of returning a promise.
      var answer = Notification.requestPermission(resolve);
      if (answer && answer.then) {
        answer.then(resolve);
      }
    });
    asked.then(function (permission) {
      if (permission !== 'granted') {
        say(permission === 'denied'
          ? 'Notifications are blocked for this site. Allow them in your browser\'s site settings, then try again.'
          : 'Notifications were not allowed, so nothing changed.', true);
        enable.disabled = permission === 'denied';
        return;
      }
      say('Subscribing this device…', false);
      return registration.then(function (reg) {
        return reg.pushManager.getSubscription().then(function (old) {
          return old || reg.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: keyBytes(vapidKey)
          });
        });
      }).then(function (subscription) {
        return post({ push: 'subscribe', subscription: JSON.stringify(subscription) });
      }).then(function () {
        show(true);
        say('Notifications are on for this device.', false);
      });
    }).catch(function (err) {
      enable.disabled = false;
      say('Could not turn on notifications: ' + (err && err.message ? err.message : err), true);
    });
  });

  disable.addEventListener('click', function () {
    disable.disabled = true;
    registration.then(function (reg) {
      return reg.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) {
        return;
      }
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        return post({ push: 'unsubscribe', endpoint: endpoint });
      });
    }).then(function () {
      show(false);
      say('Notifications are off for this device.', false);
    }).catch(function (err) {
      disable.disabled = false;
      say('Could not turn off notifications: ' + (err && err.message ? err.message : err), true);
    });
  });
}());
