// catdog web export: MediaPipe Tasks Web runs the exported TFLite file (three scores: cat, dog,
// neither; the top one is the answer `catdog predict` gives). Everything loads from this folder.
import { ImageClassifier } from "./runtime/vision_bundle.js";

const status = document.getElementById("status");
const results = document.getElementById("results");
const input = document.getElementById("file-input");
const drop = document.getElementById("drop");
const cameraButton = document.getElementById("camera-button");
const cameraSection = document.getElementById("camera");
const video = document.getElementById("camera-video");
const cameraResult = document.getElementById("camera-result");
const cameraDetail = document.getElementById("camera-detail");

const config = await (await fetch("config.json")).json();
const wasm = { wasmLoaderPath: new URL("runtime/wasm/vision_wasm_internal.js", location.href).href,
               wasmBinaryPath: new URL("runtime/wasm/vision_wasm_internal.wasm", location.href).href };
let classifier;
try {
  classifier = await ImageClassifier.createFromOptions(wasm, {
    baseOptions: { modelAssetPath: config.model, delegate: "CPU" }, runningMode: "IMAGE", maxResults: 3 });
  status.textContent = "Ready.";
  document.body.dataset.ready = "true";
} catch (error) {
  status.innerHTML = "";
  status.append(errorLine(`The model could not be loaded: ${error.message || error}`));
  throw error;
}
let mode = "IMAGE";

// p(dog) back from the three scores (decide.Decision.from_scores: dog share moved back from the
// threshold to p(dog)).
function answerOf(categories) {
  const score = Object.fromEntries(categories.map((c) => [c.categoryName, c.score]));
  const top = categories.reduce((a, b) => (b.score > a.score ? b : a));
  const share = score.dog / Math.max(score.cat + score.dog, 1e-30);
  const t = config.threshold;
  const pDog = (share * t) / (share * t + (1 - share) * (1 - t));
  return { label: top.categoryName, pDog, neither: score.neither };
}

async function useMode(wanted) {
  if (mode !== wanted) { await classifier.setOptions({ runningMode: wanted }); mode = wanted; }
}

function errorLine(text) {
  const line = document.createElement("div");
  line.className = "error";
  line.textContent = text;
  return line;
}

function describe(element, detail, answer, ms) {
  element.textContent = answer.label;
  element.className = `label ${answer.label}`;
  detail.textContent = `p(dog) ${answer.pDog.toFixed(3)} · ${ms.toFixed(0)} ms`;
}

async function classifyFile(file) {
  const card = document.getElementById("card").content.firstElementChild.cloneNode(true);
  card.dataset.name = file.name;
  results.append(card);
  const [img, label, detail] = [card.querySelector("img"), card.querySelector(".label"), card.querySelector(".detail")];
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    img.remove();
    label.replaceWith(errorLine(`${file.name} is not a photo.`));
    detail.remove();
    card.dataset.label = "error";
    return;
  }
  img.src = URL.createObjectURL(file);
  img.alt = file.name;
  await useMode("IMAGE");
  const started = performance.now();
  const result = classifier.classify(bitmap);
  const ms = performance.now() - started;
  bitmap.close();
  const answer = answerOf(result.classifications[0].categories);
  describe(label, detail, answer, ms);
  Object.assign(card.dataset, { label: answer.label, pDog: answer.pDog.toFixed(6), ms: ms.toFixed(2) });
}

async function classifyFiles(files) {
  status.textContent = `Classifying ${files.length} file(s)…`;
  for (const file of files) await classifyFile(file);
  status.textContent = `Done: ${files.length} file(s).`;
}

input.addEventListener("change", () => classifyFiles([...input.files]));
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  classifyFiles([...event.dataTransfer.files]);
});

// The camera: a few frames a second are classified while it runs.
let stream = null;
async function cameraLoop() {
  if (!stream) return;
  if (video.readyState >= 2) {
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
