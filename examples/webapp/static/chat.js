// examples/webapp/static/chat.js: the web demo's page script. It refreshes
// the live figures from /api/stats every two seconds and runs the chat over
// the /ws WebSocket (messages are JSON: see examples/webapp/app.h).
'use strict';

(function () {
  const statusEl = document.getElementById('status');
  const messagesEl = document.getElementById('messages');
  const form = document.getElementById('send');
  const nameEl = document.getElementById('name');
  const textEl = document.getElementById('text');
  let socket = null;
  let socketName = null;

  function show(html_class, parts) {
    const li = document.createElement('li');
    if (html_class) li.className = html_class;
    for (const [tag, text] of parts) {
      const el = document.createElement(tag);
      el.textContent = text;  // never innerHTML: messages are user input
      li.appendChild(el);
      li.appendChild(document.createTextNode(' '));
    }
    messagesEl.appendChild(li);
    messagesEl.scrollTop = messagesEl.scrollHeight;
  }

  function connect(name) {
    const usable = socket && (socket.readyState === WebSocket.CONNECTING ||
                              socket.readyState === WebSocket.OPEN);
    if (usable && socketName === name) return socket;
    if (socket) socket.close(1000, 'name changed');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const url = scheme + '://' + location.host + '/ws?name=' +
        encodeURIComponent(name);
    const ws = new WebSocket(url);
    socket = ws;
    socketName = name;
    statusEl.textContent = 'connecting';
    ws.onopen = () => {
      if (socket === ws) statusEl.textContent = 'connected as ' + name;
    };
    ws.onmessage = (event) => {
      let m;
      try {
        m = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (m.type === 'message') {
        show('message', [['time', m.time], ['b', m.from], ['span', m.text]]);
      } else if (m.type === 'join' || m.type === 'leave') {
        show('event', [['span', m.from + (m.type === 'join' ? ' joined' :
                                                              ' left')]]);
      }
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      statusEl.textContent = 'disconnected (' + event.code +
          (event.reason ? ': ' + event.reason : '') + ')';
    };
    return ws;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = textEl.value;
    if (!text) return;
    const name = nameEl.value || 'anonymous';
    // The server takes names of up to 32 bytes of UTF-8.
    if (new TextEncoder().encode(name).length > 32) {
      statusEl.textContent = 'that name is too long (32 bytes at most)';
      return;
    }
    const ws = connect(name);
    const send = () => {
      ws.send(text);
      textEl.value = '';
    };
    if (ws.readyState === WebSocket.OPEN) {
      send();
    } else {
      ws.addEventListener('open', send, {once: true});
    }
  });

  async function refresh() {
    try {
      const response = await fetch('/api/stats', {cache: 'no-store'});
      const stats = await response.json();
      for (const [key, value] of Object.entries(stats)) {
        const el = document.getElementById(key);
        if (el) el.textContent = value;
      }
    } catch (e) {
      // The server may be restarting; the next refresh tries again.
    }
  }

  connect(nameEl.value || 'anonymous');
  setInterval(refresh, 2000);
})();
