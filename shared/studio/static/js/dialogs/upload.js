// Add images: a file picker or dropped files, optional tags for all (classification), uploaded in
// batches (the API's batch limit) with one progress bar over all of them, and each file's result in plain words.
import { api } from "../api.js";
import { limits, megabytes } from "../config.js";
import { clear, errorNotice, field, h, openDialog, progressBar } from "../ui.js";

const BATCH_BYTES = 48 * 1024 * 1024; // keeps one request a sensible size
const tooLarge = () => `Too large (max ${megabytes(limits.maxImageBytesTraining)})`;
const UNREADABLE = "Not an image we can read (use JPEG, PNG, BMP or GIF)";

// Custom Vision's ImageCreateStatus in a person's words: [text, kind].
const results = () => ({
  OK: ["Added", "ok"],
  OKDuplicate: ["Already in the project", "warn"],
  ErrorImageSize: [tooLarge(), "error"],
  ErrorSource: [UNREADABLE, "error"],
  ErrorImageFormat: [UNREADABLE, "error"],
  ErrorImageDimensions: [`The picture's size is not supported (each side at most ${limits.maxImageSide.toLocaleString("en")} px, not too long and thin)`, "error"],
  ErrorTagLimitExceed: [`Too many tags on this image (at most ${limits.maxTagsPerImage})`, "error"],
  ErrorRegionLimitExceed: [`Too many boxes on this image (at most ${limits.maxRegionsPerImage})`, "error"],
  ErrorLimitExceed: ["The project holds as many images as it may", "error"],
  ErrorInvalidTag: ["A chosen tag no longer exists: reopen this dialog and choose again", "error"],
  ErrorNegativeAndRegularTagOnSameImage: ["The Negative tag cannot go with other tags on one image", "error"],
  ErrorStorage: ["Could not be stored: try again", "error"],
  ErrorUnknown: ["Not added: try again", "error"],
});

export function resultInWords(status) {
  const words = results();
  if (words[status]) return words[status];
  if (/^ErrorUnsupported/.test(status || "")) return [UNREADABLE, "error"];
  return [`Not added (${status || "no answer"})`, "error"];
}

function size(bytes) {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(bytes / 1024))} KB`;
}

function batches(files) {
  const out = [];
  let current = [];
  let bytes = 0;
  for (const file of files) {
    if (current.length && (current.length >= limits.maxBatchImages || bytes + file.size > BATCH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(file);
    bytes += file.size;
  }
  if (current.length) out.push(current);
  return out;
}

export function open(state, { files = [] } = {}) {
  const projectId = state.project.id;
  let chosen = [...files];
  let added = 0;
  let uploading = false;
  let closed = false;
  const rows = []; // every file's result since the dialog opened, newest upload first

  const input = h("input", { type: "file", multiple: true, accept: "image/*,.jpg,.jpeg,.png,.bmp,.gif", class: "file-input" });
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const zone = h("div", { class: "upload-zone" },
    h("p", {}, h("strong", {}, "Drop images here"), " or choose them:"),
    field("Image files", input, `JPEG, PNG, BMP or GIF, up to ${megabytes(limits.maxImageBytesTraining)} each. Uploaded ${limits.maxBatchImages} at a time.`),
    summary);
  const tagBoxes = state.detection ? [] : state.tags.map((t) => h("input", { type: "checkbox", value: t.id }));
  const tagPart = state.detection
    ? h("p", { class: "muted small" }, "Draw boxes on each image after the upload: open it from the grid.")
    : tagBoxes.length
      ? h("fieldset", {}, h("legend", {}, "Tags for all these images (optional)"),
        h("div", { class: "upload-tags" }, state.tags.map((t, i) => h("label", { class: "choice" }, tagBoxes[i], h("span", {}, t.name)))))
      : h("p", { class: "muted small" }, "Tip: add tags on the left of the Training Images tab, then tag the images after the upload.");
  const progress = h("div", { class: "upload-progress", hidden: true });
  const results = h("div", { class: "upload-results" });
  let uploadButton;

  const showChosen = () => {
    const bytes = chosen.reduce((sum, f) => sum + f.size, 0);
    summary.textContent = chosen.length ? `${chosen.length} file${chosen.length === 1 ? "" : "s"} chosen (${size(bytes)}).` : "No files chosen yet.";
    if (uploadButton) {
      uploadButton.disabled = !chosen.length;
      uploadButton.textContent = chosen.length ? `Upload ${chosen.length} file${chosen.length === 1 ? "" : "s"}` : "Upload";
    }
  };
  input.addEventListener("change", () => {
    chosen = [...input.files];
    showChosen();
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    chosen = [...e.dataTransfer.files];
    showChosen();
  });

  async function upload() {
    if (!chosen.length) return false;
    const todo = chosen;
    chosen = [];
    input.value = "";
    uploadButton.disabled = true;
    input.disabled = true;
    uploading = true;
    const tagIds = tagBoxes.filter((b) => b.checked).map((b) => b.value);
    const bar = progressBar("Upload progress");
    const label = h("p", { class: "small" }, `Uploading ${todo.length} file${todo.length === 1 ? "" : "s"}…`);
    clear(progress, label, bar);
    progress.hidden = false;
    const latest = [];
    const record = (file, [text, kind]) => latest.push({ name: file.name, text, kind });

    // Too large files are refused here: sending them would only cost time.
    const sendable = todo.filter((f) => (f.size > limits.maxImageBytesTraining ? (record(f, [tooLarge(), "error"]), false) : true));
    let done = todo.length - sendable.length;
    bar.set(done / todo.length);
    for (const batch of batches(sendable)) {
      const form = new FormData();
      for (const file of batch) form.append("imageData", file, file.name);
      try {
        const answer = await api.post(`/projects/${projectId}/images`, form, { tagIds });
        const images = answer?.images || [];
        batch.forEach((file, i) => {
          const result = images.length === batch.length ? images[i] : images.find((r) => (r.sourceUrl || "").replace(/^"|"$/g, "") === file.name);
          const words = resultInWords(result?.status);
          if (words[1] === "ok") added += 1;
          record(file, words);
        });
      } catch (err) {
        for (const file of batch) record(file, [err.message, "error"]);
      }
      done += batch.length;
      bar.set(done / todo.length);
      label.textContent = `Uploaded ${done} of ${todo.length}…`;
    }
    const count = (kind) => latest.filter((r) => r.kind === kind).length;
    label.textContent = `Done: ${count("ok")} added, ${count("warn")} already in the project, ${count("error")} not added.`;
    // Problems first: they are what needs the person's attention.
    const order = { error: 0, warn: 1, ok: 2 };
    latest.sort((a, b) => order[a.kind] - order[b.kind] || a.name.localeCompare(b.name));
    rows.unshift(...latest);
    showResults();
    uploading = false;
    // Closed while uploading: the grid behind still needs the images added since.
    if (closed && added && state.ctx.isCurrent()) state.reload();
    input.disabled = false;
    setTimeout(showChosen); // after the dialog's own handler re-enables the button
    return false;
  }

  function showResults() {
    clear(results, h("div", { class: "table-wrap" }, h("table", { class: "upload-table" },
      h("caption", { class: "visually-hidden" }, "Upload results"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "File"), h("th", { scope: "col" }, "Result"))),
      h("tbody", {}, rows.map((r) => h("tr", { class: `result-${r.kind}` }, h("td", { class: "file-name" }, r.name), h("td", {}, h("span", { class: `badge ${r.kind}` }, r.text))))))));
  }

  const dialog = openDialog({
    title: "Add images",
    wide: true,
    body: [zone, tagPart, progress, results],
    actions: [
      { label: "Close" },
      { label: "Upload", kind: "primary", onclick: () => upload().catch((err) => (clear(results, errorNotice(err)), false)) },
    ],
    onclose: () => {
      closed = true;
      if (added && !uploading) state.reload();
    },
  });
  uploadButton = dialog.querySelector(".dialog-actions button.primary");
  showChosen();
  return dialog;
}
