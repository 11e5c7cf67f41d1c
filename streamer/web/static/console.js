// The operator console: renders /api/state, refreshed on each "state" event of /events;
// actions are POSTs with the console token (kept in this browser's localStorage only).
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "streamer-console-token";
let refreshing = null;

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : text(child));
  return node;
}

function seconds(value) {
  return value === null || value === undefined ? "–" : `${Number(value).toFixed(2)} s`;
}

function age(s) {
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min`;
}

function say(message, bad = false) {
  const node = $("#message");
  node.textContent = message;
  node.className = bad ? "down" : "";
}

async function act(action, body = {}) {
  const token = localStorage.getItem(TOKEN_KEY) || "";
  const response = await fetch(`/api/${action}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Streamer-Token": token },
    body: JSON.stringify(body),
  });
  let answer = {};
  try { answer = await response.json(); } catch (e) { answer = { message: response.statusText }; }
  if (response.status === 403) {
    say(`${action}: refused (403): paste the console token above`, true);
  } else {
    say(`${action}: ${answer.message || response.status}`, !response.ok);
  }
  refresh();
  return response.status;
}

function renderOnAir(state) {
  const box = $("#on-air");
  box.replaceChildren();
  const answer = state.answers.find((a) => a.id === state.on_air);
  if (!answer) {
    box.className = "card empty";
    box.textContent = "idle loop";
    return;
  }
  box.className = "card";
  box.dataset.answer = answer.id;
  box.append(
    el("div", { class: "question" }, el("b", {}, answer.name), ": ", answer.question),
    el("div", { class: "spoken" }, answer.spoken.join(" ")),
    el("div", { class: "timings" },
      `first token ${seconds(answer.timings.first_token_s)}, first frame ${seconds(answer.timings.first_frame_s)}`),
  );
}

function renderBuilding(state) {
  const box = $("#building");
  box.replaceChildren();
  const others = state.answers.filter((a) => a.id !== state.on_air);
  if (!others.length) box.append(el("div", { class: "card empty" }, "nothing"));
  for (const answer of others) {
    box.append(el("div", { class: "card", "data-answer": answer.id },
      el("b", {}, answer.name), ` (${answer.state}): ${answer.question}`, " ",
      el("button", { "data-drop": answer.id, onclick: () => act("drop", { id: answer.id }) }, "Drop")));
  }
}

function renderPool(state) {
  const body = $("#pool tbody");
  body.replaceChildren();
  $("#pool-count").textContent = `(${state.pool.length})`;
  for (const q of state.pool) {
    const askers = q.askers.length > 1 ? ` +${q.askers.length - 1}` : "";
    const tries = q.attempts ? ` (tried ${q.attempts}×)` : "";
    body.append(el("tr", { "data-question": q.id },
      el("td", {}, q.name + askers),
      el("td", {}, q.role + (q.bits ? `, ${q.bits} bits` : "")),
      el("td", {}, age(q.age_s)),
      el("td", { title: q.askers.join(", ") }, q.text + tries),
      el("td", {},
        el("button", { "data-next": q.id, onclick: () => act("next", { id: q.id }) }, "Answer next"), " ",
        el("button", { "data-drop": q.id, onclick: () => act("drop", { id: q.id }) }, "Drop"), " ",
        el("button", { "data-block": q.user, onclick: () => act("block", { user: q.user }) }, "Block"))));
  }
}

function renderHistory(state) {
  const body = $("#history tbody");
  body.replaceChildren();
  const timings = new Map();
  for (const event of state.recent) if (event.type === "answer") timings.set(event.id, event.timings);
  for (const h of state.history) {
    const t = timings.get(h.id);
    const end = h.outcome || h.status;
    body.append(el("tr", { "data-history": h.id },
      el("td", {}, h.user),
      el("td", {}, h.question),
      el("td", { class: end }, end + (h.reason ? ` (${h.reason})` : "")),
      el("td", { class: "timings" },
        t ? `${seconds(t.first_token_s)} → ${seconds(t.first_frame_s)}` : "–")));
  }
}

function renderVerdicts(state) {
  const list = $("#verdicts");
  list.replaceChildren();
  const verdicts = state.recent.filter((e) => e.type === "verdict").slice(-50).reverse();
  for (const v of verdicts) {
    list.append(el("li", { class: v.outcome },
      `${v.user}: ${v.outcome}` + (v.outcome === "rejected" ? ` (${v.reason}: ${v.detail})` : "")));
  }
}

function renderHealth(state) {
  const list = $("#health");
  list.replaceChildren();
  for (const [name, part] of Object.entries(state.health)) {
    list.append(el("dt", {}, name.replace("_", " / ")),
      el("dd", { class: part.state, "data-health": name }, `${part.state}${part.detail ? ": " + part.detail : ""}`));
  }
}

function render(state) {
  $("#daemon-state").textContent = state.state + (state.paused ? " (paused)" : "");
  renderOnAir(state);
  renderBuilding(state);
  renderPool(state);
  renderHistory(state);
  renderVerdicts(state);
  renderHealth(state);
  $("#settings").textContent = JSON.stringify(state.settings, null, 2);
  document.body.dataset.ready = "1";
}

async function refresh() {
  if (refreshing) return refreshing;
  refreshing = (async () => {
    try {
      const response = await fetch("/api/state", { cache: "no-store" });
      render(await response.json());
    } catch (e) {
      $("#daemon-state").textContent = "not answering";
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function listen() {
  const events = new EventSource("/events");
  events.onopen = () => { $("#events-state").textContent = "events: live"; };
  events.onerror = () => { $("#events-state").textContent = "events: reconnecting"; };
  events.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "state" || event.type === "verdict" || event.type === "answer") refresh();
    if (event.type === "host_voice") $("#talk-state").textContent = `${event.state}: ${event.text}`;
  };
}

// The live preview: WebRTC from the daemon (the frames and sound the RTMP stream carries).
let peer = null;
let micSender = null;
let mic = null;
let talking = false;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  });
}

async function watch() {
  const video = $("#preview");
  if (peer) {
    peer.close();
    peer = null;
    video.srcObject = null;
    $("#watch").textContent = "Watch";
    $("#unmute").disabled = true;
    $("#preview-state").textContent = "off";
    return;
  }
  const pc = new RTCPeerConnection({ iceServers: [] });
  peer = pc;
  $("#watch").textContent = "Stop";
  $("#preview-state").textContent = "connecting…";
  pc.addTransceiver("video", { direction: "recvonly" });
  // The stream's sound comes in; the host's microphone goes out on the same track's way
  // back while "Hold to talk" is held.
  micSender = pc.addTransceiver("audio", { direction: "sendrecv" }).sender;
  const stream = new MediaStream();
  pc.addEventListener("track", (e) => {
    stream.addTrack(e.track);
    video.srcObject = stream;
    video.play().catch(() => {});
  });
  pc.addEventListener("connectionstatechange", () => {
    $("#preview-state").textContent = pc.connectionState;
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const response = await fetch("/api/preview", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-Streamer-Token": localStorage.getItem(TOKEN_KEY) || "",
    },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
  });
  const answer = await response.json();
  if (!response.ok) {
    $("#preview-state").textContent = answer.message || `error ${response.status}`;
    pc.close();
    peer = null;
    $("#watch").textContent = "Watch";
    return;
  }
  await pc.setRemoteDescription(answer);
  $("#unmute").disabled = false;
}

async function talk(on) {
  if (on === talking) return;
  talking = on;
  if (!on) {
    if (micSender) await micSender.replaceTrack(null);
    $("#talk-state").textContent = "heard; recognising when you paused";
    return;
  }
  try {
    if (!peer) await watch();
    if (!mic) mic = (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0];
    await micSender.replaceTrack(mic);
    $("#talk-state").textContent = "listening… (release when done)";
  } catch (e) {
    talking = false;
    $("#talk-state").textContent = `no microphone: ${e.message || e}`;
  }
}

$("#watch").addEventListener("click", () => watch());
$("#talk").addEventListener("pointerdown", () => talk(true));
for (const kind of ["pointerup", "pointerleave"]) {
  $("#talk").addEventListener(kind, () => talk(false));
}
$("#unmute").addEventListener("click", () => {
  const video = $("#preview");
  video.muted = !video.muted;
  $("#unmute").textContent = video.muted ? "Sound on" : "Sound off";
});

for (const button of document.querySelectorAll("button[data-action]")) {
  button.addEventListener("click", () => act(button.dataset.action));
}
$("#token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem(TOKEN_KEY, $("#token").value.trim());
  $("#token").value = "";
  say("token saved in this browser");
});
$("#block-form").addEventListener("submit", (e) => {
  e.preventDefault();
  act("block", { user: $("#block-user").value });
});
$("#unblock").addEventListener("click", () => act("unblock", { user: $("#block-user").value }));

refresh();
listen();
