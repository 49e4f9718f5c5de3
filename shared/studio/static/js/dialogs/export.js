// Export: package a compact-domain iteration's model (ONNX here) and download it. The export runs on
// the server; the dialog polls it until it is Done and then offers the download link.
import { api } from "../api.js";
import { completedIterations } from "../projects.js";
import { clear, errorNotice, field, h, openDialog, progressBar } from "../ui.js";
import { trainFirst } from "./quicktest.js";

// What this server packages (services/exports.py SUPPORTED_PLATFORMS); Custom Vision lists more.
const SUPPORTED = ["ONNX"];
const PLATFORM_TEXT = {
  ONNX: "ONNX: runs with ONNX Runtime on Windows, Linux, macOS and mobile.",
  CoreML: "Core ML: iOS and macOS apps.",
  TensorFlow: "TensorFlow: Android and Python.",
  DockerFile: "Dockerfile: a container that serves the model.",
  VAIDK: "Vision AI Dev Kit.",
  OpenVino: "OpenVINO: Intel hardware.",
};
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
  const offered = iteration.exportableTo?.length ? iteration.exportableTo : SUPPORTED;
  const platform = h(
    "select",
    { name: "platform" },
    offered.map((p) => h("option", { value: p, disabled: !SUPPORTED.includes(p) }, SUPPORTED.includes(p) ? p : `${p} (not available on this server)`)),
  );
  const describe = h("span", {}, PLATFORM_TEXT[platform.value] || "");
  platform.addEventListener("change", () => (describe.textContent = PLATFORM_TEXT[platform.value] || ""));
  const progress = h("div", { class: "export-progress" });
  const exportButton = h("button", { type: "button", class: "primary" }, "Export");
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    try {
      await runExport(state, iteration, platform.value, progress, stopped);
    } finally {
      exportButton.disabled = false;
    }
  });
  clear(content, field("Platform", platform, describe), h("div", { class: "row" }, exportButton), progress);
  // An export made earlier is offered at once.
  try {
    const earlier = (await api.get(`/projects/${state.project.id}/iterations/${iteration.id}/export`)).find((e) => e.status === "Done" && e.platform === platform.value);
    if (earlier && !stopped()) clear(progress, downloadLink(earlier, iteration));
  } catch {
    // Nothing earlier to offer; exporting still works.
  }
}

async function runExport(state, iteration, platform, progress, stopped) {
  const path = `/projects/${state.project.id}/iterations/${iteration.id}/export`;
  const bar = progressBar(`Exporting ${iteration.name} to ${platform}`);
  const label = h("p", { class: "muted" }, `Packaging ${iteration.name} for ${platform}…`);
  clear(progress, label, bar);
  const started = Date.now();
  try {
    let record;
    try {
      record = await api.post(path, undefined, { platform });
    } catch (err) {
      if (err.code !== "BadRequestExportAlreadyInProgress") throw err;
      record = { platform, status: "Exporting" }; // someone started it already: wait for that one
    }
    while (record.status === "Exporting") {
      if (stopped()) return;
      // The server gives no percentage; the bar shows that time passes, filling towards 90%.
      bar.set(Math.min(0.9, (Date.now() - started) / 10000));
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const all = await api.get(path);
      record = all.find((e) => e.platform === platform && !e.flavor) || record;
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
    h("p", {}, `${iteration.name} is ready as ${record.platform}: a zip with model.onnx, labels.txt and a manifest.`),
    h("a", { class: "button primary", href: record.downloadUri, download: "" }, `Download ${record.platform} model`),
  );
}
