// Export: package a compact-domain iteration's model for a platform and download it. The export runs
// on the server (the training job packages it); the dialog polls it until it is Done and then offers
// the download link. The (platform, flavor) pairs are the server's own (config.js exportChoices).
import { api } from "../api.js";
import { exportChoices } from "../config.js";
import { completedIterations } from "../projects.js";
import { clear, errorNotice, field, h, openDialog, progressBar } from "../ui.js";
import { trainFirst } from "./quicktest.js";

// What each choice is called and what its zip holds; keyed "platform" or "platform:flavor".
const CHOICE_TEXT = {
  ONNX: ["ONNX", "ONNX Runtime on Windows, Linux, macOS and mobile; Custom Vision's export samples run it.", "model.onnx and labels.txt"],
  "ONNX:OnnxFloat16": ["ONNX (float16)", "Half the size; float16 input and weights.", "model.onnx (float16) and labels.txt"],
  DockerFile: ["Docker (amd64 and arm64)", "A container that answers the Prediction API for this model.", "a Dockerfile and the server it builds"],
  "DockerFile:Linux": ["Docker (Linux amd64)", "A container that answers the Prediction API for this model.", "a Dockerfile and the server it builds"],
  "DockerFile:ARM": ["Docker (ARM64)", "A container for arm64 boards (Raspberry Pi 4 and newer).", "a Dockerfile and the server it builds"],
  OpenVino: ["OpenVINO", "Intel CPUs, GPUs and NPUs.", "model.xml, model.bin and labels.txt"],
  CoreML: ["Core ML", "iOS and macOS apps.", "model.mlmodel and labels.txt"],
  "TensorFlow:TensorFlowLite": ["TensorFlow Lite", "Android and embedded devices (LiteRT).", "model.tflite and labels.txt"],
};
// ONNX10 / ONNX12 are the same model as plain ONNX here: not offered twice.
const HIDDEN = new Set(["ONNX:ONNX10", "ONNX:ONNX12"]);
const POLL_MS = 1000;

export function open(state) {
  const completed = completedIterations(state.iterations);
  if (!completed.length) return trainFirst(state, "Export");
  const iterationSelect = h("select", { name: "iteration" }, completed.map((i) => h("option", { value: i.id }, i.name)));
  const content = h("div", { "aria-live": "polite" });
  let stopped = false;
  const show = () => showIteration(state, completed.find((i) => i.id === iterationSelect.value), content, () => stopped);
  iterationSelect.addEventListener("change", show);
  openDialog({
    title: "Export",
    body: h("div", {}, completed.length > 1 ? field("Iteration", iterationSelect) : h("p", {}, `Export ${completed[0].name}.`), content),
    actions: [{ label: "Close" }],
    onclose: () => {
      stopped = true;
    },
  });
  show();
}

function compactDomains(state) {
  const type = state.detection ? "ObjectDetection" : "Classification";
  return [...state.domains.values()].filter((d) => d.exportable && d.type === type).map((d) => d.name);
}

async function showIteration(state, iteration, content, stopped) {
  if (!iteration.exportable) {
    const domain = state.domains.get(iteration.domainId);
    const compact = compactDomains(state);
    clear(
      content,
      h(
        "div",
        { class: "notice warn" },
        h("p", {}, `${iteration.name} was trained on the ${domain ? domain.name : "current"} domain, which cannot be exported: only compact domains make models small enough to run on a device.`),
        h("p", {}, compact.length ? `Compact domains: ${compact.join(", ")}. ` : "", "Switch the domain in Project settings, train again, then export the new iteration."),
      ),
    );
    return;
  }
  const offered = new Set(iteration.exportableTo || []);
  const choices = exportChoices.filter((c) => offered.has(c.platform) && !HIDDEN.has(choiceKey(c)));
  const platform = h(
    "select",
    { name: "platform" },
    choices.map((c) => h("option", { value: choiceKey(c) }, choiceText(c)[0])),
  );
  const describe = h("span", {}, choiceText(choiceOf(platform.value))[1]);
  const progress = h("div", { class: "export-progress" });
  platform.addEventListener("change", () => {
    describe.textContent = choiceText(choiceOf(platform.value))[1];
    clear(progress); // the download offered belongs to the choice before
  });
  const exportButton = h("button", { type: "button", class: "primary" }, "Export");
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    try {
      await runExport(state, iteration, choiceOf(platform.value), progress, stopped);
    } finally {
      exportButton.disabled = false;
    }
  });
  clear(content, field("Platform", platform, describe), h("div", { class: "row" }, exportButton), progress);
  // An export made earlier is offered at once.
  try {
    const earlier = (await api.get(`/projects/${state.project.id}/iterations/${iteration.id}/export`)).find((e) => e.status === "Done" && choiceKey(e) === platform.value);
    if (earlier && !stopped()) clear(progress, downloadLink(earlier, iteration));
  } catch {
    // Nothing earlier to offer; exporting still works.
  }
}

function choiceKey(choice) {
  return choice.flavor ? `${choice.platform}:${choice.flavor}` : choice.platform;
}

function choiceOf(key) {
  const [platform, flavor] = key.split(":");
  return { platform, flavor: flavor || null };
}

function choiceText(choice) {
  return CHOICE_TEXT[choiceKey(choice)] || [choiceKey(choice).replace(":", " "), "", "the model"];
}

async function runExport(state, iteration, choice, progress, stopped) {
  const path = `/projects/${state.project.id}/iterations/${iteration.id}/export`;
  const name = choiceText(choice)[0];
  const bar = progressBar(`Exporting ${iteration.name} to ${name}`);
  const label = h("p", { class: "muted" }, `Packaging ${iteration.name} for ${name}… (the first export of a model takes longest)`);
  clear(progress, label, bar);
  const started = Date.now();
  try {
    let record;
    try {
      record = await api.post(path, undefined, choice.flavor ? { platform: choice.platform, flavor: choice.flavor } : { platform: choice.platform });
    } catch (err) {
      if (err.code !== "BadRequestExportAlreadyInProgress") throw err;
      record = { ...choice, status: "Exporting" }; // someone started it already: wait for that one
    }
    while (record.status === "Exporting") {
      if (stopped()) return;
      // The server gives no percentage; the bar shows that time passes, filling towards 90%.
      bar.set(Math.min(0.9, (Date.now() - started) / 10000));
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const all = await api.get(path);
      record = all.find((e) => choiceKey(e) === choiceKey(choice)) || record;
    }
    if (record.status !== "Done") {
      clear(progress, errorNotice({ message: `The export failed on the server. Try again; if it fails again, train a new iteration and export that.`, code: record.status }));
      return;
    }
    bar.set(1);
    clear(progress, downloadLink(record, iteration));
  } catch (err) {
    clear(progress, errorNotice(err));
  }
}

function downloadLink(record, iteration) {
  return h(
    "div",
    { class: "notice ok export-done" },
    h("p", {}, `${iteration.name} is ready as ${choiceText(record)[0]}: a zip with ${choiceText(record)[2]}.`),
    h("a", { class: "button primary", href: record.downloadUri, download: "" }, `Download ${choiceText(record)[0]} model`),
  );
}
