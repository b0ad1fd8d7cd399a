// tests/natlab/driver.js — one WebRTC peer of the NAT lab, run inside its client namespace.
//
// What an app does around the browser code (peer.js): learn its own NAT type (`advisorctl detect`,
// or the lab's known type where that command does not exist), swap NAT types with the other peer
// through signalling, ask the advisor with its own identity, run the session in Debian's chromium
// (playwright-core, no browser download), and report the real outcome with its real attempts.
// Prints one JSON line: what was advised, what happened, whether the report was accepted.
//
// Usage: node driver.js --role offerer|answerer --session ID --signal URL --ctl ADVISORCTL
//          --target HOST:PORT --ca-file F --jwt-file F --turn-id ID --lab-hosts IP,IP...
//          (--nat TYPE | --detect STUN [--detect-timeout 1s]) [--budget-ms 30000]
'use strict';
const {execFile} = require('child_process');
const path = require('path');
const {chromium} = require('playwright-core');

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const offerer = args.role === 'offerer';
const me = offerer ? 'offerer' : 'answerer';
const other = offerer ? 'answerer' : 'offerer';
const budgetMs = Number(args['budget-ms'] || 30000);

function ctl(...command) {
  const common = ['--target', args.target, '--ca-file', args['ca-file'],
                  '--jwt-file', args['jwt-file']];
  return new Promise((resolve) => {
    execFile(args.ctl, [...common, ...command], {timeout: 15000}, (error, stdout, stderr) =>
      resolve({ok: !error, stdout, stderr: String(stderr).trim()}));
  });
}

// The relay's mailboxes, from node (before and after the browser's part).
async function post(box, message) {
  await fetch(`${args.signal}/m/${args.session}-${box}/${other}`, {method: 'POST',
    headers: {'content-type': 'text/plain'}, body: JSON.stringify(message)});
}
async function receive(box, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const wait = Math.min(5000, Math.max(1, deadline - Date.now()));
    const messages = await (await fetch(
        `${args.signal}/m/${args.session}-${box}/${me}?after=0&wait=${wait}`)).json();
    if (messages.length) return messages[0];
  }
  throw new Error(`no ${box} message from the ${other} within ${timeoutMs} ms`);
}

async function detect() {
  if (!args.detect) return {nat: args.nat, confidence: 1, detected: null};
  const r = await ctl('--timeout', args['detect-timeout'] || '1s', 'detect', '--stun', args.detect,
                      '--json');
  if (!r.ok) return {nat: 'unknown', confidence: 0, detected: null, detectError: r.stderr};
  const d = JSON.parse(r.stdout);
  return {nat: d.nat_type, detected: d.nat_type, confidence: d.confidence};
}

// The attempts as `advisorctl report --attempts` takes them. A direct attempt that ran into the
// budget without a fallback to go to timed out, as the server counts it, at the advised timeout.
function attemptsFlag(attempts, directTimeoutMs) {
  const capped = (a) => a.path === 'direct' && a.result === 'timed_out' && directTimeoutMs > 0 ?
    Math.min(a.ms, directTimeoutMs) : a.ms;
  return attempts.map((a) => [a.path, a.result, Math.max(0, capped(a)),
    ...(a.path === 'relay' ? [a.transport || 'udp', args['turn-id']] : [])].join(':')).join(',');
}

async function main() {
  const browser = chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',  // as root in CI
      // No name lookup leaves the lab: every host fails locally but the lab's own addresses (the
      // rules apply to address literals too, and TCP TURN goes through them).
      '--host-resolver-rules=' +
          ['MAP * ~NOTFOUND', ...args['lab-hosts'].split(',').map((h) => `EXCLUDE ${h}`)].join(', '),
      // Real host candidates: mDNS names do not resolve across the lab's namespaces.
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--disable-background-networking', '--disable-component-update', '--no-first-run',
    ],
  });
  const out = {role: me};
  try {
    const nat = await detect();
    Object.assign(out, nat);
    await post('nat', {nat: nat.nat, confidence: nat.confidence});
    const remote = await receive('nat', 20000);
    out.remoteNat = remote.nat;

    const asked = await ctl('get-strategy', '--local', out.nat, '--local-confidence',
                            String(nat.confidence), '--remote', remote.nat, '--remote-confidence',
                            String(remote.confidence), '--json');
    if (!asked.ok) throw new Error(`get-strategy failed: ${asked.stderr}`);
    const advice = JSON.parse(asked.stdout);
    out.strategy = advice.strategy.replace('STRATEGY_', '');
    out.directTimeoutMs = advice.directTimeoutMs;
    out.hasFallback = Boolean(advice.fallbackIceConfig);
    const initialUrls = (advice.iceConfig.iceServers || []).flatMap((s) => s.urls);
    out.initialTurn = initialUrls.some((u) => /^turns?:/.test(u));
    out.initialStun = initialUrls.some((u) => /^stuns?:/.test(u));
    out.initialPolicy = advice.iceConfig.iceTransportPolicy;

    const page = await (await browser).newPage();
    if (process.env.NATLAB_DEBUG) page.on('console', (m) => console.error('page:', m.text()));
    await page.goto('about:blank');
    await page.addScriptTag({path: path.join(__dirname, 'peer.js')});
    // Both ends start at once, so that their timers agree and the time to connect is ICE's.
    await post('ready', {});
    await receive('ready', 30000);
    const run = async ({advice, signal, session, me, other, offerer, budgetMs}) => {
      const signaling = new MailboxSignaling(signal, session, me, other);
      const r = await connectWithAdvice(advice, signaling, {offerer, budgetMs});
      signaling.close();
      return r;
    };
    const result = await page.evaluate(
        run, {advice, signal: args.signal, session: args.session, me, other, offerer, budgetMs});
    Object.assign(out, result);

    // Keep this end up until the other has its message too.
    await post('done', {connected: result.connected});
    await receive('done', budgetMs + 10000).catch(() => {});

    const report = result.connected ?
      ['--connected', '--time-to-connect', String(result.timeToConnectMs)] : ['--failed'];
    const reported = await ctl('report', '--token', advice.decisionToken, ...report,
                               '--attempts', attemptsFlag(result.attempts, advice.directTimeoutMs));
    out.attemptsFlag = attemptsFlag(result.attempts, advice.directTimeoutMs);
    out.reportAccepted = reported.ok;
    if (!reported.ok) out.reportError = reported.stderr;
  } catch (e) {
    out.error = String(e && e.message || e);
  } finally {
    await (await browser).close().catch(() => {});
  }
  console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), (e) => {
  console.log(JSON.stringify({role: me, error: String(e)}));
  process.exit(1);
});
