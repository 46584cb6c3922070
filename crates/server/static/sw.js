// The Smart Mailbox service worker, served at /sw.js so that its scope is the whole portal.
// It shows the server's web push messages ({id, title, body, url, tag} as JSON) and opens a
// message's link when its notification is clicked. It caches nothing: the portal needs the
// network anyway.
'use strict';

self.addEventListener('install', function () {
  self.skipWaiting();
});

self.addEventListener('activate', function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('push', function (event) {
  var data = {};
  if (event.data) {
    try {
      data = event.data.json() || {};
    } catch (e) {
      data = { body: event.data.text() };
    }
  }
  var options = {
    body: data.body || '',
    icon: '/static/icon-192.png',
    data: { url: data.url || '/dashboard' }
  };
  if (data.tag) {
    options.tag = String(data.tag);
  }
  event.waitUntil(self.registration.showNotification(data.title || 'Smart Mailbox', options));
});

self.addEventListener('notificationclick', function (event) {
  event.notification.close();
  var wanted = (event.notification.data && event.notification.data.url) || '/dashboard';
  var target;
  try {
    target = new URL(wanted, self.location.origin).href;
  } catch (e) {
    target = new URL('/dashboard', self.location.origin).href;
  }
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (windows) {
      var i;
      for (i = 0; i < windows.length; i++) {
        if (windows[i].url === target && 'focus' in windows[i]) {
          return windows[i].focus();
        }
      }
      for (i = 0; i < windows.length; i++) {
        var w = windows[i];
        if (new URL(w.url).origin === new URL(target).origin && 'navigate' in w) {
          return w.navigate(target).then(function (navigated) {
            return navigated ? navigated.focus() : self.clients.openWindow(target);
          });
        }
      }
      return self.clients.openWindow(target);
    })
  );
});
