// tests/natlab/peer.js — a browser WebRTC client that executes a Connectivity Advisor answer as it
// is, and a minimal HTTP-mailbox signalling channel for it.
//
// This is the client protocol of GetStrategyResponse (proto/connectivity/advisor/v1/advisor.proto),
// in the code the NAT lab runs in chromium and the README quotes:
//   1. start with `iceConfig` (for DIRECT and TURN_FALLBACK it holds no TURN server, so ICE cannot
//      relay before the advised timeout; TURN_ONLY's is relay-only);
//   2. at `directTimeoutMs`, if not connected and `fallbackIceConfig` is set, apply it:
//      setConfiguration(fallback), then restartIce(); the offerer renegotiates through signalling;
//   3. give up at the app's budget.
// `advice` is the answer in proto3's JSON form (camelCase fields, enum names), as gRPC-JSON
// gateways and `advisorctl get-strategy --json` print it. The result says what happened, in the
// terms ReportOutcome takes (attempts with path, result, duration and transport).
'use strict';

// An IceConfig as an RTCConfiguration.
function rtcConfiguration(ice) {
  return {
    iceServers: (ice.iceServers || []).map((s) => ({
      urls: s.urls,
      ...(s.username ? {username: s.username, credential: s.credential} : {}),
    })),
    iceTransportPolicy: ice.iceTransportPolicy || 'all',
    iceCandidatePoolSize: ice.iceCandidatePoolSize || 0,
    bundlePolicy: ice.bundlePolicy || 'max-bundle',
    rtcpMuxPolicy: ice.rtcpMuxPolicy || 'require',
  };
}

// connectWithAdvice(advice, signaling, {offerer, budgetMs}): connects to the peer at the other end
// of `signaling` (an object with send(message) and an onmessage callback), opens a data channel
// and exchanges one message each way. Resolves to {connected, timeToConnectMs, attempts, selected,
// fallbackApplied, events}; never rejects for a failed connection.
async function connectWithAdvice(advice, signaling, {offerer, budgetMs = 30000}) {
  const t0 = performance.now();
  const now = () => Math.round(performance.now() - t0);
  const pc = new RTCPeerConnection(rtcConfiguration(advice.iceConfig));
  // What ICE did when, for the app's logs: e.g. "ice:checking@120".
  const events = [];
  const note = (what) => events.push(`${what}@${now()}`);
  pc.oniceconnectionstatechange = () => note(`ice:${pc.iceConnectionState}`);
  pc.onicegatheringstatechange = () => note(`gathering:${pc.iceGatheringState}`);
  const attempts = [];
  let phase = {path: advice.strategy === 'STRATEGY_TURN_ONLY' ? 'relay' : 'direct', start: 0};
  let fallbackApplied = false;

  // At the timeout (or when the offerer's ICE restart shows that it has timed out): the relay.
  const applyFallback = () => {
    if (fallbackApplied || !advice.fallbackIceConfig) return false;
    if (pc.connectionState === 'connected') return false;
    fallbackApplied = true;
    attempts.push({path: phase.path, result: 'timed_out', ms: now() - phase.start});
    phase = {path: 'relay', start: now()};
    note('fallback');
    // The candidate pool only fills before the first offer, and changing its size after that
    // throws (InvalidModificationError): keep the one in use.
    const pool = pc.getConfiguration().iceCandidatePoolSize;
    const fallback = rtcConfiguration(advice.fallbackIceConfig);
    pc.setConfiguration({...fallback, iceCandidatePoolSize: pool});
    pc.restartIce();
    return true;
  };

  // Signalling: trickle ICE, one message at a time, in order. Only the offerer makes offers. A
  // candidate can arrive before the description it belongs to (it is gathered as soon as the
  // description is set locally, and may be sent first): it waits for a description with its ufrag,
  // since the one in place would refuse it and it would be lost.
  const ufrag = (sdp) => (sdp.match(/a=ice-ufrag:(\S+)/) || [])[1];
  let remoteUfrag;
  let early = [];
  const belongs = (c) => !c.usernameFragment || c.usernameFragment === remoteUfrag;
  const add = (c) => pc.addIceCandidate(c).then(() => note(`added:${c.usernameFragment}`),
                                                () => note(`refused:${c.usernameFragment}`));
  pc.onicecandidate = ({candidate}) => {
    if (!candidate) return;
    note(`candidate:${candidate.type}`);
    signaling.send({candidate: candidate.toJSON()});
  };
  if (offerer) {
    pc.onnegotiationneeded = async () => {
      await pc.setLocalDescription();
      signaling.send({description: pc.localDescription.toJSON()});
    };
  }
  let queue = Promise.resolve();
  signaling.onmessage = (message) => {
    queue = queue.then(async () => {
      if (message.description) {
        const d = message.description;
        note(`remote:${d.type}`);
        if (d.type === 'offer' && remoteUfrag && ufrag(d.sdp) !== remoteUfrag) applyFallback();
        await pc.setRemoteDescription(d);
        remoteUfrag = ufrag(d.sdp);
        if (d.type === 'offer') {
          await pc.setLocalDescription();
          signaling.send({description: pc.localDescription.toJSON()});
        }
        const ready = early.filter(belongs);
        early = early.filter((c) => !belongs(c));
        for (const c of ready) await add(c);
      } else if (message.candidate) {
        const c = message.candidate;
        if (pc.remoteDescription && belongs(c)) await add(c);
        else early.push(c);
      }
    }).catch(() => {});
  };

  // Both ends make the same negotiated channel, so neither waits for the other's ondatachannel.
  const channel = pc.createDataChannel('advisor', {negotiated: true, id: 0});
  const exchanged = new Promise((resolve) => {
    let opened;
    channel.onopen = () => {
      opened = now();
      channel.send(`hello from the ${offerer ? 'offerer' : 'answerer'}`);
    };
    channel.onmessage = ({data}) => resolve({opened: opened ?? now(), data});
  });

  const timers = [];
  if (advice.fallbackIceConfig && advice.directTimeoutMs > 0) {
    timers.push(setTimeout(applyFallback, advice.directTimeoutMs));
  }
  const budget = new Promise((resolve) => timers.push(setTimeout(resolve, budgetMs, null)));
  const done = await Promise.race([exchanged, budget]);
  timers.forEach(clearTimeout);

  if (!done) {
    attempts.push({path: phase.path, result: 'timed_out', ms: now() - phase.start});
    const pairs = await candidatePairs(pc);
    pc.close();
    return {connected: false, timeToConnectMs: now(), attempts, selected: null, fallbackApplied,
            events, pairs};
  }
  const selected = await selectedPair(pc);
  const relayed = selected && (selected.local === 'relay' || selected.remote === 'relay');
  const path = relayed ? 'relay' : 'direct';
  const transport = selected ? selected.relayProtocol || selected.protocol : undefined;
  attempts.push({path, result: 'succeeded', ms: done.opened - phase.start, transport});
  return {
    connected: true,
    timeToConnectMs: done.opened,
    attempts,
    selected,
    fallbackApplied,
    received: done.data,
    events,
  };
}

// The candidate pair ICE selected: candidate types, protocol, and the TURN transport of a local
// relay candidate.
async function selectedPair(pc) {
  const stats = await pc.getStats();
  let pair;
  stats.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) {
      pair = stats.get(r.selectedCandidatePairId);
    }
  });
  if (!pair) {
    stats.forEach((r) => {
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r;
    });
  }
  if (!pair) return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return {
    local: local.candidateType,
    remote: remote.candidateType,
    protocol: local.protocol,
    relayProtocol: local.relayProtocol,
  };
}

// Every candidate pair ICE formed and how far it got, to tell why a connection did not come up:
// "srflx udp 100.64.7.2:5000 > relay 198.51.100.1:49200 failed".
async function candidatePairs(pc) {
  const stats = await pc.getStats();
  const name = (c) => `${c.candidateType} ${c.relayProtocol || c.protocol} ${c.address}:${c.port}`;
  const pairs = [];
  stats.forEach((r) => {
    if (r.type !== 'candidate-pair') return;
    const local = stats.get(r.localCandidateId);
    const remote = stats.get(r.remoteCandidateId);
    if (local && remote) pairs.push(`${name(local)} > ${name(remote)} ${r.state}`);
  });
  return pairs;
}

// Signalling through the lab's relay (signal.js): POST to the peer's mailbox, long-poll our own.
// text/plain keeps the POST a CORS "simple" request (no preflight).
class MailboxSignaling {
  constructor(baseUrl, session, me, peer) {
    this.inbox = `${baseUrl}/m/${session}/${me}`;
    this.outbox = `${baseUrl}/m/${session}/${peer}`;
    this.onmessage = null;
    this.closed = false;
    this.sending = Promise.resolve();
    this.poll();
  }
  // One POST at a time, so that messages arrive in the order they were sent.
  send(message) {
    const body = JSON.stringify(message);
    this.sending = this.sending.then(() =>
      fetch(this.outbox, {method: 'POST', headers: {'content-type': 'text/plain'}, body})
          .catch(() => {}));
    return this.sending;
  }
  async poll() {
    let after = 0;
    while (!this.closed) {
      try {
        const messages = await (await fetch(`${this.inbox}?after=${after}&wait=5000`)).json();
        after += messages.length;
        for (const m of messages) if (this.onmessage) this.onmessage(m);
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
  close() {
    this.closed = true;
  }
}
