// tests/natlab/signal.js — the NAT lab's signalling relay: one mailbox per (session, peer).
//
// Two WebRTC peers behind NATs cannot reach each other before ICE has done its work, so their
// descriptions and candidates travel through this relay in the lab's "internet". It is
// deliberately small and bounded: node's http module, messages kept in memory, a cap on sessions,
// on messages per mailbox and on body size, and long polls that end after at most 10 s.
//
//   POST /m/<session>/<peer>            body: one JSON message for <peer>; 204
//   GET  /m/<session>/<peer>?after=N    messages N, N+1, ... of <peer>'s mailbox as a JSON array;
//                                       waits up to `wait` ms (≤ 10000) while there is none
// CORS is open: the browser pages that poll it are about:blank.
//
// Usage: node signal.js HOST PORT
'use strict';
const http = require('http');

const [host, port] = [process.argv[2] || '127.0.0.1', Number(process.argv[3] || 8080)];
const MAX_SESSIONS = 1000;
const MAX_MESSAGES = 500;
const MAX_BODY = 64 * 1024;
const MAX_WAIT_MS = 10000;

const mailboxes = new Map(); // "<session>/<peer>" -> {messages: [], waiters: Set<fn>}

function mailbox(key) {
  let box = mailboxes.get(key);
  if (!box) {
    if (mailboxes.size >= MAX_SESSIONS * 2) return null;
    box = {messages: [], waiters: new Set()};
    mailboxes.set(key, box);
  }
  return box;
}

function reply(res, status, body) {
  res.writeHead(status, {
    'access-control-allow-origin': '*',
    'access-control-allow-headers': 'content-type',
    'content-type': 'application/json',
  });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://relay');
  const m = url.pathname.match(/^\/m\/([\w.-]{1,100})\/([\w.-]{1,100})$/);
  if (req.method === 'OPTIONS') return reply(res, 204);
  if (!m) return reply(res, 404, {error: 'no such path'});
  const box = mailbox(`${m[1]}/${m[2]}`);
  if (!box) return reply(res, 503, {error: 'too many sessions'});

  if (req.method === 'POST') {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > MAX_BODY) req.destroy();
    });
    req.on('end', () => {
      let message;
      try {
        message = JSON.parse(body);
      } catch {
        return reply(res, 400, {error: 'not JSON'});
      }
      if (box.messages.length >= MAX_MESSAGES) return reply(res, 507, {error: 'mailbox full'});
      box.messages.push(message);
      for (const wake of box.waiters) wake();
      reply(res, 204);
    });
    return;
  }
  if (req.method !== 'GET') return reply(res, 405, {error: 'GET or POST'});

  const after = Math.max(0, Number(url.searchParams.get('after')) || 0);
  const wait = Math.min(MAX_WAIT_MS, Math.max(0, Number(url.searchParams.get('wait')) || 0));
  const answer = () => reply(res, 200, box.messages.slice(after));
  if (box.messages.length > after || wait === 0) return answer();
  const done = () => {
    clearTimeout(timer);
    box.waiters.delete(done);
    answer();
  };
  const timer = setTimeout(done, wait);
  box.waiters.add(done);
  req.on('close', () => {
    clearTimeout(timer);
    box.waiters.delete(done);
  });
});
server.requestTimeout = MAX_WAIT_MS + 5000;
server.listen(port, host, () => console.log(`signalling relay on ${host}:${port}`));
process.on('SIGTERM', () => process.exit(0));
