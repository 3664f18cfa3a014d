// catdog web export: MediaPipe Tasks Web runs the exported TFLite file (one score per answer: the
// run's classes, then the refusal: cat, dog, neither for a cat/dog run; the top one is the answer
// `catdog predict` gives). config.json says which categories are the classes. Everything loads from
// this folder.
//
// The listeners come first, before anything is downloaded: a photo chosen, dropped or pasted while
// the runtime and the model load (seconds on a phone) is shown at once as a waiting card and
// classified as soon as the model is ready. No photo is ever dropped.

const status = document.getElementById("status");
const results = document.getElementById("results");
const input = document.getElementById("file-input");
const drop = document.getElementById("drop");
const cameraButton = document.getElementById("camera-button");
const cameraSection = document.getElementById("camera");
const video = document.getElementById("camera-video");
const cameraResult = document.getElementById("camera-result");
const cameraDetail = document.getElementById("camera-detail");

let config = null;
let classifier = null;
let failure = null;           // why the model could not be loaded, once that is known
let mode = "IMAGE";
const waiting = [];           // [{file, card}] in the order chosen
let working = false;
let answered = 0;
const loading = { bytes: null, received: 0 };

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function megabytes(bytes) {
  const mb = bytes / 1e6;
  return `${mb >= 10 ? mb.toFixed(0) : mb.toFixed(1)} MB`;
}

function errorLine(text) {
  const line = document.createElement("div");
  line.className = "error";
  line.textContent = text;
  return line;
}

function showStatus() {
  const queued = waiting.length + (working ? 1 : 0);
  const tail = queued ? ` ${plural(queued, "photo")} waiting.` : "";
  if (failure) return;  // the failure stays on screen
  if (!classifier) {
    const { bytes, received } = loading;
    const size = bytes ? ` (${megabytes(bytes)}${received ? `, ${Math.floor((100 * received) / bytes)} %` : ""})` : "";
    status.textContent = `Loading the model${size}…${tail}`;
  } else if (queued) {
    status.textContent = `Classifying…${tail}`;
  } else {
    status.textContent = answered ? `Done: ${plural(answered, "file")}.` : "Ready.";
  }
}

// ------------------------------------------------------------------ photos in, in the order chosen

function addCard(file) {
  const card = document.getElementById("card").content.firstElementChild.cloneNode(true);
  card.dataset.name = file.name || "pasted";
  card.dataset.state = "waiting";
  const img = card.querySelector("img");
  img.alt = file.name || "pasted photo";
  img.addEventListener("error", () => { img.hidden = true; }, { once: true });  // no broken-image icon while waiting
  img.src = URL.createObjectURL(file);
  card.querySelector(".label").textContent = "Waiting…";
  card.querySelector(".label").classList.add("waiting");
  card.querySelector(".detail").textContent = failure ? "" : "Classified as soon as the model has loaded.";
  results.append(card);
  return card;
}

function accept(files) {
  for (const file of files) {
    const card = addCard(file);
    if (failure) fail(card);
    else waiting.push({ file, card });
  }
  showStatus();
  work();
}

function fail(card) {
  const img = card.querySelector("img");
  if (img) img.remove();
  card.querySelector(".label").replaceWith(errorLine(`Not classified: the model could not be loaded (${failure}).`));
  card.querySelector(".detail").remove();
  card.dataset.state = "failed";
  card.dataset.label = "error";
}

input.addEventListener("change", () => { accept([...input.files]); input.value = ""; });
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  accept([...event.dataTransfer.files]);
});
document.addEventListener("paste", (event) => {
  const files = [...event.clipboardData.items].filter((item) => item.kind === "file").map((item) => item.getAsFile());
  if (files.length) accept(files);
});
// Files chosen before this script ran are in the input already.
if (input.files.length) { accept([...input.files]); input.value = ""; }

// ------------------------------------------------------------------ the answers

const CAT_DOG = ["cat", "dog"];
const classesOf = () => config.classes ?? CAT_DOG;
const isCatDog = () => classesOf().join("\n") === CAT_DOG.join("\n");
const TOP_CLASSES = 3;  // a run of more classes shows its likeliest three

// The class probabilities back from the N + 1 scores (decide.Decision.from_scores), and for a
// refusal how sure it is that none of the classes is there: 1 - pet_probability, what the server and
// `catdog predict` give as its confidence. The scores are [d_1 q, ..., d_N q, (1 - q) max(d)] over
// their sum (decide.Decision.scores), so d_i = class_i / (sum of the class scores) and
// 1 - q = refusal / (refusal + max(class scores)); the refusal score itself is a little lower. For two
// classes d is p(class 1) moved so that the threshold sits at one half: moved back here (cat and dog:
// p(dog)).
function answerOf(categories) {
  const score = Object.fromEntries(categories.map((c) => [c.categoryName, c.score]));
  const top = categories.reduce((a, b) => (b.score > a.score ? b : a));
  const classes = classesOf();
  const refusal = config.refusal ?? "neither";
  const classScores = classes.map((name) => score[name] ?? 0);
  const total = Math.max(classScores.reduce((a, b) => a + b, 0), 1e-30);
  let p = classScores.map((s) => s / total);
  if (classes.length === 2) {
    const share = p[1];
    const t = config.threshold;
    const p1 = (share * t) / (share * t + (1 - share) * (1 - t));
    p = [1 - p1, p1];
  }
  const noPet = (score[refusal] ?? 0) / Math.max((score[refusal] ?? 0) + Math.max(...classScores), 1e-30);
  const refused = top.categoryName === refusal;
  // Likeliest first, the answer before all (two classes with the threshold off one half: it may be the
  // less likely one).
  const first = (entry) => (entry.name === top.categoryName ? 1 : 0);
  const probabilities = classes.map((name, i) => ({ name, p: p[i] })).sort((a, b) => first(b) - first(a) || b.p - a.p);
  return { label: top.categoryName, refused, p: refused ? null : p[classes.indexOf(top.categoryName)],
           pDog: isCatDog() ? p[1] : null, probabilities, noPet };
}

// In whole percent, never "100 %".
function sureText(answer) {
  const what = isCatDog() ? "No cat or dog" : `None of the ${classesOf().length} classes`;
  return `${what} · ${Math.min(99, Math.round(answer.noPet * 100))} % sure`;
}

// The answer's CSS classes: a cat/dog run's as they always were ("label cat"); class names of other
// runs are the user's own, so never CSS classes: only "refusal" marks a refused photo.
function labelClass(answer) {
  return isCatDog() ? `label ${answer.label}` : `label${answer.refused ? " refusal" : ""}`;
}

async function useMode(wanted) {
  if (mode !== wanted) { await classifier.setOptions({ runningMode: wanted }); mode = wanted; }
}

function percent(p) {
  return `${Math.round(p * 1000) / 10}%`;
}

// The camera's answer: one line. A refusal says what it rests on, not a lean between classes.
function describe(element, detail, answer, ms) {
  element.textContent = answer.label;
  element.className = labelClass(answer);
  const basis = answer.refused ? sureText(answer) : isCatDog() ? `p(dog) ${percent(answer.pDog)}` : `p(${answer.label}) ${percent(answer.p)}`;
  detail.textContent = `${basis} · ${ms.toFixed(0)} ms`;
}

function meter(bar, p) {
  bar.querySelector("span").style.width = percent(p);
  bar.setAttribute("aria-valuenow", String(Math.round(p * 1000) / 10));
}

// The likeliest classes, each with its probability and a bar (the answer first).
function showTop(list, answer) {
  const row = document.getElementById("top-class").content.firstElementChild;
  for (const { name, p } of answer.probabilities.slice(0, TOP_CLASSES)) {
    const item = row.cloneNode(true);
    item.querySelector(".name").textContent = name;
    item.querySelector(".p").textContent = percent(p);
    item.querySelector(".bar").setAttribute("aria-label", `Probability of ${name}`);
    meter(item.querySelector(".bar"), p);
    list.append(item);
  }
  list.hidden = false;
}

// A photo's card: for a cat or a dog the cat–dog bar, for a class of another run its likeliest
// classes; for a refusal how sure it is that none of the classes is there, and no bar.
function describeCard(card, answer, ms) {
  const label = card.querySelector(".label");
  label.textContent = answer.label;
  label.className = labelClass(answer);
  if (!isCatDog() || answer.refused) card.querySelector(".lean").remove();
  if (isCatDog() || answer.refused) card.querySelector(".top").remove();
  if (answer.refused) {
    const line = card.querySelector(".sure");
    line.textContent = sureText(answer);
    line.hidden = false;
    card.dataset.sure = answer.noPet.toFixed(6);
  } else if (isCatDog()) {
    const lean = card.querySelector(".lean");
    meter(lean.querySelector(".bar"), answer.pDog);
    lean.querySelector(".pdog").textContent = `p(dog) ${percent(answer.pDog)}`;
    lean.hidden = false;
  } else {
    showTop(card.querySelector(".top"), answer);
    card.dataset.p = answer.p.toFixed(6);
  }
  card.querySelector(".detail").textContent = `${ms.toFixed(0)} ms`;
}

async function classifyInto(file, card) {
  const [img, label, detail] = [card.querySelector("img"), card.querySelector(".label"), card.querySelector(".detail")];
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    img.remove();
    label.replaceWith(errorLine(`${file.name || "This file"} is not a photo.`));
    detail.remove();
    card.dataset.state = "done";
    card.dataset.label = "error";
    return;
  }
  img.hidden = false;
  await useMode("IMAGE");
  const started = performance.now();
  const result = classifier.classify(bitmap);
  const ms = performance.now() - started;
  bitmap.close();
  const answer = answerOf(result.classifications[0].categories);
  describeCard(card, answer, ms);
  card.dataset.state = "done";
  Object.assign(card.dataset, { label: answer.label, ms: ms.toFixed(2) });
  if (answer.pDog !== null) card.dataset.pDog = answer.pDog.toFixed(6);
}

// One photo at a time, in the order chosen, once the model is there.
async function work() {
  if (working || !classifier) return;
  working = true;
  while (waiting.length) {
    const { file, card } = waiting.shift();
    showStatus();
    try {
      await classifyInto(file, card);
    } catch (error) {  // the card says so, and the next photo still gets its answer
      card.querySelector("img")?.remove();
      card.querySelector(".label")?.replaceWith(errorLine(`${file.name || "This photo"} could not be classified: ${error.message || error}`));
      card.querySelector(".detail")?.remove();
      card.dataset.state = "done";
      card.dataset.label = "error";
    }
    answered += 1;
  }
  working = false;
  showStatus();
}

// ------------------------------------------------------------------ the model, after the listeners

async function fetchModel(url) {
  try {
    return await download(url);
  } catch (error) {
    // fetch and its stream say only "Failed to fetch" / "network error" when the connection fails
    throw error instanceof TypeError ? new Error(`${url} could not be downloaded: the connection failed`) : error;
  }
}

async function download(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: the server answered ${response.status} ${response.statusText}`.trim());
  loading.bytes ??= Number(response.headers.get("Content-Length")) || null;
  showStatus();
  const reader = response.body.getReader();
  const chunks = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loading.received += value.length;
    showStatus();
  }
  const model = new Uint8Array(loading.received);
  let offset = 0;
  for (const chunk of chunks) { model.set(chunk, offset); offset += chunk.length; }
  return model;
}

async function loadClassifier() {
  const response = await fetch("config.json");
  if (!response.ok) throw new Error(`config.json: the server answered ${response.status}`);
  config = await response.json();
  loading.bytes = config.model_bytes || null;
  showStatus();
  // The runtime (JavaScript and WebAssembly) and the model download side by side.
  const [{ ImageClassifier }, model] = await Promise.all([import("./runtime/vision_bundle.js"), fetchModel(config.model)]);
  const wasm = { wasmLoaderPath: new URL("runtime/wasm/vision_wasm_internal.js", location.href).href,
                 wasmBinaryPath: new URL("runtime/wasm/vision_wasm_internal.wasm", location.href).href };
  return ImageClassifier.createFromOptions(wasm, {
    baseOptions: { modelAssetBuffer: model, delegate: "CPU" }, runningMode: "IMAGE", maxResults: classesOf().length + 1 });
}

showStatus();
loadClassifier().then((ready) => {
  classifier = ready;
  document.body.dataset.ready = "true";
  showStatus();
  work();
}, (error) => {
  failure = String(error.message || error);
  document.body.dataset.ready = "failed";
  status.innerHTML = "";
  status.append(errorLine(`The model could not be loaded (${failure}). Reload the page to try again.`));
  for (const { card } of waiting.splice(0)) fail(card);
});

// ------------------------------------------------------------------ the camera

// A few frames a second are classified while it runs (from the moment the model is ready).
let stream = null;
async function cameraLoop() {
  if (!stream) return;
  if (classifier && !working && video.readyState >= 2) {
    await useMode("VIDEO");
    const started = performance.now();
    const result = classifier.classifyForVideo(video, started);
    const answer = answerOf(result.classifications[0].categories);
    describe(cameraResult, cameraDetail, answer, performance.now() - started);
    cameraResult.dataset.label = answer.label;
    cameraResult.dataset.frames = String(Number(cameraResult.dataset.frames) + 1);
  }
  setTimeout(cameraLoop, 200);
}
cameraButton.addEventListener("click", async () => {
  if (stream) {
    stream.getTracks().forEach((track) => track.stop());
    stream = null;
    cameraSection.hidden = true;
    cameraButton.textContent = "Start camera";
    cameraButton.setAttribute("aria-pressed", "false");
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  } catch (error) {
    status.innerHTML = "";
    status.append(errorLine(`The camera could not be opened: ${error.message || error}`));
    return;
  }
  video.srcObject = stream;
  cameraSection.hidden = false;
  cameraButton.textContent = "Stop camera";
  cameraButton.setAttribute("aria-pressed", "true");
  cameraLoop();
});
