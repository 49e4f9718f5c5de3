// Quick Test: run one image (a file or a URL) through a trained iteration and show what it sees,
// then add it to the training set with corrected tags or boxes. The review part (bars or boxes,
// the correction, the move into training) is exported: the Predictions tab reviews stored
// predictions exactly the same way.
import { api } from "../api.js";
import { BoxEditor } from "../boxes/editor.js";
import { limits, megabytes } from "../config.js";
import { completedIterations } from "../projects.js";
import { clear, errorNotice, field, h, openDialog, percent, progressBar, tagColor, toast } from "../ui.js";

// Detection boxes below this probability are hidden at first (the slider changes it).
const DEFAULT_THRESHOLD = 0.5;
// Multilabel classification presets the tags at or above this probability.
const MULTILABEL_PRESET = 0.5;
// The list beside a detection names the surest boxes; the rest are counted.
const FOUND_LISTED = 8;

export function open(state) {
  const completed = completedIterations(state.iterations);
  if (!completed.length) return trainFirst(state, "Quick Test");
  const iterationSelect = h(
    "select",
    { name: "iteration" },
    completed.map((i) => h("option", { value: i.id }, i.publishName ? `${i.name} (published as ${i.publishName})` : i.name)),
  );
  const fileInput = h("input", { type: "file", accept: "image/*", name: "image-file" });
  const urlInput = h("input", { type: "url", name: "image-url", placeholder: "https://…", inputmode: "url" });
  const result = h("div", { class: "qt-result", "aria-live": "polite" });
  let review = null;
  let objectUrl = null;
  let runs = 0; // a newer test makes the answer of an older one moot

  const run = async (send, imageUrl) => {
    const mine = ++runs;
    review?.destroy();
    review = null;
    const bar = progressBar("Testing the image");
    bar.set(0.3);
    clear(result, h("p", { class: "muted" }, "Testing the image…"), bar);
    try {
      const prediction = await send(iterationSelect.value);
      const shown = imageUrl || (await storedImageUrl(state, prediction));
      if (mine !== runs) return;
      review = predictionReview(state, {
        imageUrl: shown,
        prediction,
        startEditing: false,
        moveLabel: "Add to training set",
        onMoved: () => {
          toast("The image was added to the training set.");
          state.reload();
        },
      });
      clear(result, review.element);
    } catch (err) {
      if (mine === runs) clear(result, errorNotice(err));
    }
  };

  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    if (!file) return;
    if (objectUrl) URL.revokeObjectURL(objectUrl);
    objectUrl = URL.createObjectURL(file);
    urlInput.value = "";
    run((iterationId) => api.post(`/projects/${state.project.id}/quicktest/image`, file, { iterationId }), objectUrl);
  });
  const testUrl = () => {
    const url = urlInput.value.trim();
    if (!url) {
      clear(result, errorNotice({ message: "Paste the address of an image first (it starts with http:// or https://)." }));
      urlInput.focus();
      return;
    }
    fileInput.value = "";
    run((iterationId) => api.post(`/projects/${state.project.id}/quicktest/url`, { url }, { iterationId }));
  };
  urlInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      testUrl();
    }
  });

  const body = h(
    "div",
    {},
    field("Iteration", iterationSelect, completed.length > 1 ? "The newest trained iteration is chosen; pick another to compare." : null),
    h(
      "div",
      { class: "qt-sources" },
      field("Image file", fileInput, `JPEG, PNG, BMP or GIF, up to ${megabytes(limits.maxImageBytesPrediction)}. Testing starts when you pick it.`),
      h("div", { class: "qt-or", "aria-hidden": "true" }, "or"),
      urlField(urlInput, h("button", { type: "button", onclick: testUrl }, "Test URL")),
    ),
    result,
  );
  openDialog({
    title: "Quick Test",
    wide: true,
    body,
    actions: [{ label: "Close" }],
    onclose: () => {
      runs += 1; // a test still running draws nothing into the closed dialog
      review?.destroy();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    },
  });
}

// The URL field with its button beside the input (the label still names the input).
function urlField(input, button) {
  const wrap = field("Image URL", input, "The address of an image on the web.");
  const row = h("div", { class: "qt-url" });
  input.replaceWith(row);
  row.append(input, button);
  return wrap;
}

// The stored image of a URL quick test (the page cannot show other sites' images: the CSP).
async function storedImageUrl(state, prediction) {
  try {
    const found = await api.post(`/projects/${state.project.id}/predictions/query`, {
      maxCount: 20,
      orderBy: "Newest",
      iterationId: prediction.iteration,
    });
    return found.results.find((r) => r.id === prediction.id)?.originalImageUri || null;
  } catch {
    return null; // the results still show, without the picture
  }
}

// "Train the project first" with a Train button: for every dialog that needs a trained iteration.
export function trainFirst(state, what) {
  const training = state.iterations.find((i) => i.status === "Training");
  const message = training
    ? `${training.name} is still training. ${what} works once it has finished.`
    : `Train the project first: ${what} needs a trained iteration, and this project has none yet.`;
  const dialog = openDialog({
    title: what,
    body: h("div", { class: "notice warn" }, message),
    actions: [
      { label: "Close" },
      training ? null : { label: "Train", kind: "primary", onclick: () => void state.openDialog("train") },
    ].filter(Boolean),
  });
  return dialog;
}

// The tags a prediction may be corrected to: the project's tags, with their colours.
function tagIndex(state) {
  return new Map(state.tags.map((t, i) => [t.id, i]));
}

function swatch(state, tagId) {
  const el = h("span", { class: "swatch", "aria-hidden": "true" });
  el.style.background = tagColor(tagIndex(state).get(tagId) ?? 0);
  return el;
}

// One prediction reviewed: the image, what the model found, and the correction that moves the image
// into the training set (POST /images/predictions, Custom Vision's CreateImagesFromPredictions).
// prediction: {id, predictions: [{tagId, tagName, probability, boundingBox?}]}.
// Returns {element, destroy}.
export function predictionReview(state, { imageUrl, prediction, startEditing, moveLabel, onMoved, extraActions = [] }) {
  const sorted = [...prediction.predictions].sort((a, b) => b.probability - a.probability);
  const known = tagIndex(state);
  const status = h("div", { "aria-live": "polite" });

  // Once moved, the prediction is gone from Predictions: the button stays disabled.
  const move = async (button, entry) => {
    button.disabled = true;
    clear(status);
    try {
      const summary = await api.post(`/projects/${state.project.id}/images/predictions`, { images: [{ id: prediction.id, ...entry }] });
      const item = summary?.images?.[0];
      if (item && !["OK", "OKDuplicate"].includes(item.status)) {
        clear(status, errorNotice({ message: moveProblem(item.status), code: item.status }));
        button.disabled = false;
        return;
      }
      const words = item?.status === "OKDuplicate" ? "This image was already in the training set, so it was kept as it was." : "Added to the training set.";
      clear(status, h("div", { class: "notice ok" }, words));
      onMoved?.();
    } catch (err) {
      clear(status, errorNotice(err));
      button.disabled = false;
    }
  };

  const parts = state.detection
    ? detectionReview(state, { imageUrl, sorted, known, startEditing, moveLabel, move })
    : classificationReview(state, { imageUrl, sorted, known, moveLabel, move });
  const element = h(
    "div",
    { class: "review" },
    h("div", { class: "review-image" }, parts.image),
    h("div", { class: "review-side" }, parts.side, status, extraActions.length ? h("div", { class: "row review-extra" }, extraActions) : null),
  );
  return { element, destroy: () => parts.destroy?.() };
}

function moveProblem(status) {
  if (status === "ErrorSource") return "This prediction's image is no longer stored (predictions are kept for 30 days). Upload the image instead.";
  if (status === "ErrorInvalidTag") return "One of the tags no longer exists. Reload the page and pick again.";
  if (status === "ErrorNegativeAndRegularTagOnSameImage") return "The Negative tag cannot be combined with other tags.";
  if (status === "ErrorTagLimitExceed") return "Too many tags for one image.";
  if (status === "ErrorRegionLimitExceed") return "Too many boxes for one image.";
  return "The image could not be added to the training set.";
}

function classificationReview(state, { imageUrl, sorted, known, moveLabel, move }) {
  const bars = sorted.slice(0, 10).map((p) => {
    const bar = progressBar(`Probability of ${p.tagName}`);
    bar.set(p.probability);
    return h(
      "div",
      { class: "bar-row" },
      h("span", { class: "bar-tag" }, swatch(state, p.tagId), h("span", {}, p.tagName)),
      bar,
      h("span", { class: "value" }, percent(p.probability)),
    );
  });
  const preset = new Set(
    state.multilabel ? sorted.filter((p) => p.probability >= MULTILABEL_PRESET).map((p) => p.tagId) : sorted.slice(0, 1).map((p) => p.tagId),
  );
  const kind = state.multilabel ? "checkbox" : "radio";
  const name = `correct-${Math.random().toString(36).slice(2)}`;
  const choices = state.tags.map((t) =>
    h(
      "label",
      { class: "choice" },
      h("input", { type: kind, name, value: t.id, checked: preset.has(t.id) }),
      h("span", {}, swatch(state, t.id), " ", t.name),
    ),
  );
  const fieldset = h(
    "fieldset",
    { class: "review-tags" },
    h("legend", {}, state.multilabel ? "Correct tags" : "Correct tag"),
    choices.length ? choices : h("p", { class: "muted" }, "This project has no tags yet."),
  );
  const button = h("button", { type: "button", class: "primary" }, moveLabel);
  button.addEventListener("click", () => {
    const tagIds = [...fieldset.querySelectorAll("input:checked")].map((i) => i.value).filter((id) => known.has(id));
    if (!tagIds.length) {
      toast("Pick the tag this image should have first.", "error");
      return;
    }
    move(button, { tagIds });
  });
  const image = imageUrl
    ? h("img", { src: imageUrl, alt: `Tested image; the model says ${sorted[0]?.tagName || "nothing"}`, class: "review-photo" })
    : h("p", { class: "muted" }, "The image cannot be shown here.");
  const side = h(
    "div",
    {},
    h("h3", {}, "Predictions"),
    bars.length ? h("div", { class: "review-bars" }, bars) : h("p", { class: "muted" }, "The model found no tag."),
    h("h3", { class: "review-subhead" }, "Add to the training set"),
    h("p", { class: "muted small" }, state.multilabel ? "Tick every tag that is in the image." : "Pick the tag this image really shows."),
    fieldset,
    h("div", { class: "row" }, button),
  );
  return { image, side };
}

function detectionReview(state, { imageUrl, sorted, known, startEditing, moveLabel, move }) {
  const boxes = sorted
    .filter((p) => p.boundingBox && known.has(p.tagId))
    .map((p) => ({ tagId: p.tagId, probability: p.probability, ...pick(p.boundingBox) }));
  const image = h("div", { class: "review-stage" });
  const side = h("div", {});
  let threshold = DEFAULT_THRESHOLD;
  let editor = null;
  let edited = false;
  const above = () => boxes.filter((b) => b.probability >= threshold);

  const slider = h("input", { type: "range", min: "0", max: "100", step: "1", value: String(Math.round(threshold * 100)), name: "threshold" });
  const sliderValue = h("output", { class: "value" }, percent(threshold, 0));
  const found = h("ul", { class: "review-found", "aria-label": "Objects found" });
  const count = h("p", { class: "review-count muted small" });
  const showFound = () => {
    const shown = above();
    clear(
      found,
      shown.length
        ? shown
            .slice(0, FOUND_LISTED)
            .map((b) => h("li", {}, swatch(state, b.tagId), h("span", {}, state.tags[known.get(b.tagId)].name), h("span", { class: "value" }, percent(b.probability))))
        : h("li", { class: "muted" }, `Nothing at or above ${percent(threshold, 0)}.`),
      shown.length > FOUND_LISTED ? h("li", { class: "muted" }, `and ${shown.length - FOUND_LISTED} more (raise the threshold to see fewer)`) : null,
    );
    count.textContent = shown.length ? `${shown.length} box${shown.length === 1 ? "" : "es"} at or above ${percent(threshold, 0)}` : "";
  };
  slider.addEventListener("input", () => {
    threshold = Number(slider.value) / 100;
    sliderValue.textContent = percent(threshold, 0);
    showFound();
    if (!edited) editor?.setBoxes(above());
  });

  const tagSelect = h("select", { name: "new-box-tag" }, state.tags.map((t) => h("option", { value: t.id }, t.name)));
  tagSelect.addEventListener("change", () => editor?.setActiveTag(tagSelect.value));

  const makeEditor = (readOnly) => {
    editor?.destroy();
    editor = null;
    clear(image);
    if (!imageUrl) {
      image.append(h("p", { class: "muted" }, "The image cannot be shown here."));
      return;
    }
    editor = new BoxEditor(image, {
      imageUrl,
      tags: state.tags,
      boxes: above(),
      readOnly,
      activeTagId: tagSelect.value || null,
      label: readOnly ? "Tested image with the objects found" : "Tested image: draw, move or resize boxes",
    });
    for (const type of ["boxcreated", "boxchanged", "boxdeleted"]) {
      editor.addEventListener(type, () => {
        edited = true;
        slider.disabled = true;
        sliderHint.textContent = "You changed the boxes, so the threshold no longer changes them.";
      });
    }
  };
  const sliderHint = h("span", {}, "Boxes below the threshold are hidden.");
  const sliderField = field("Probability threshold", slider, sliderHint);
  sliderField.querySelector("label").append(" ", sliderValue);

  const addButton = h("button", { type: "button", class: "primary" }, moveLabel);
  addButton.addEventListener("click", () => {
    const regions = editor.boxes
      .filter((b) => known.has(b.tagId))
      .map((b) => ({ tagId: b.tagId, left: b.left, top: b.top, width: b.width, height: b.height }));
    move(addButton, { regions });
  });

  const showView = () => {
    edited = false;
    slider.disabled = false;
    makeEditor(true);
    const startEdit = h("button", { type: "button", class: "primary" }, "Correct and add to training set…");
    startEdit.addEventListener("click", showEdit);
    clear(
      side,
      h("h3", {}, "Objects found"),
      sliderField,
      count,
      found,
      imageUrl ? h("div", { class: "row" }, startEdit) : null,
    );
    showFound();
  };
  const showEdit = () => {
    makeEditor(false);
    const cancel = h("button", { type: "button" }, "Cancel");
    cancel.addEventListener("click", showView);
    clear(
      side,
      h("h3", {}, "Correct the boxes"),
      sliderField,
      count,
      found,
      h(
        "p",
        { class: "muted small" },
        "Drag on the image to draw a box; select a box to move or resize it, or press Delete to remove it. The boxes shown are what is added.",
      ),
      state.tags.length ? field("Tag for new boxes", tagSelect) : h("p", { class: "muted" }, "This project has no tags yet."),
      h("div", { class: "row" }, addButton, startEditing ? null : cancel),
    );
    showFound();
  };
  if (imageUrl && startEditing) showEdit();
  else showView();
  return { image, side, destroy: () => editor?.destroy() };
}

function pick(box) {
  return { left: box.left, top: box.top, width: box.width, height: box.height };
}
