// Object detection in the image editor: the BoxEditor bound to the Training API (a new box creates a
// region; a changed box deletes the old region and creates the new one; a deleted box deletes it), the
// tag for new boxes (1-9, "New tag"), the list of boxes, undo, and the suggested objects.
import { api } from "../api.js";
import { clear, h, percent, tagColor, toast } from "../ui.js";
import { BoxEditor } from "../boxes/editor.js";
import { limits } from "../config.js";
import { iou } from "../boxes/geometry.js";
import { completedIterations, createTag } from "../projects.js";

const fromRegion = (r) => ({ id: r.regionId, tagId: r.tagId, left: r.left, top: r.top, width: r.width, height: r.height });

export function detectionEditor(state, image, { readOnly, stageHost, side }) {
  const projectId = state.project.id;
  const tags = state.tags;
  const editor = new BoxEditor(stageHost, {
    imageUrl: image.originalImageUri,
    tags,
    boxes: (image.regions || []).map(fromRegion),
    readOnly,
    activeTagId: tags[0]?.id ?? null,
    label: readOnly ? "The image with its boxes" : "The image: drag to draw a box, drag a box to move it, drag a corner to resize it",
  });
  const regionOf = new Map(editor.boxes.map((b) => [b.key, b.id]));
  const undo = [];
  let undoing = false;
  let queue = Promise.resolve();
  const saving = h("p", { class: "small muted save-status", role: "status" }, "");

  // Region calls run one after another, so a change always deletes the id its create produced.
  const run = (what, fn) => {
    saving.textContent = "Saving…";
    queue = queue.then(fn).then(() => {
      saving.textContent = "All changes saved.";
    }, async (err) => {
      saving.textContent = "";
      toast(`${what} was not saved: ${err.message}`, "error");
      await refresh();
    });
    return queue;
  };
  const create = async (box) => {
    const answer = await api.post(`/projects/${projectId}/images/regions`, { regions: [{ imageId: image.id, tagId: box.tagId, left: box.left, top: box.top, width: box.width, height: box.height }] });
    const made = answer?.created?.[0];
    if (!made) throw new Error(answer?.exceeded?.length ? `this image has the most boxes it may hold (${limits.maxRegionsPerImage})` : "the same box is already there");
    regionOf.set(box.key, made.regionId);
  };
  const remove = async (key) => {
    const id = regionOf.get(key);
    regionOf.delete(key);
    if (id) await api.delete(`/projects/${projectId}/images/regions`, { regionIds: id });
  };
  // After a failure: show what the server holds.
  async function refresh() {
    try {
      const [fresh] = await api.get(`/projects/${projectId}/images/id`, { imageIds: image.id });
      regionOf.clear();
      editor.setBoxes((fresh?.regions || []).map(fromRegion));
      for (const b of editor.boxes) regionOf.set(b.key, b.id);
      undo.length = 0;
      drawList();
    } catch {
      // The toast already said what went wrong.
    }
  }

  editor.addEventListener("boxcreated", ({ detail: box }) => {
    if (!box.tagId) {
      toast("Add a tag first (Tag for new boxes, on the side), then draw the box.", "error");
      undoing = true;
      editor.removeBox(box.key);
      undoing = false;
      return;
    }
    if (!undoing) undo.push({ kind: "create", key: box.key });
    run("The new box", () => create(box));
    drawList();
  });
  editor.addEventListener("boxchanged", ({ detail: box }) => {
    if (!undoing) undo.push({ kind: "change", key: box.key, before: box.previous });
    run("The change", async () => {
      await remove(box.key);
      await create(box);
    });
    drawList();
  });
  editor.addEventListener("boxdeleted", ({ detail: box }) => {
    if (!box.tagId) return;
    if (!undoing) undo.push({ kind: "delete", box });
    run("The deletion", () => remove(box.key));
    drawList();
  });
  editor.addEventListener("selectionchange", ({ detail }) => {
    if (detail?.tagId && !detail.probability) markActive(detail.tagId);
    drawList();
  });

  function undoLast() {
    const last = undo.pop();
    if (!last) return toast("Nothing to undo.");
    undoing = true;
    try {
      if (last.kind === "create") editor.removeBox(last.key);
      else if (last.kind === "delete") editor.addBox(last.box);
      else editor.updateBox(last.key, last.before);
    } finally {
      undoing = false;
    }
    toast("Undone.");
  }

  // ---- the tag for new boxes ----
  const picker = h("div", { class: "tag-picker", role: "radiogroup", "aria-labelledby": "active-tag-heading" });
  let activeTagId = editor.activeTagId;
  function markActive(tagId) {
    activeTagId = tagId;
    editor.setActiveTag(tagId);
    for (const input of picker.querySelectorAll("input")) input.checked = input.value === tagId;
  }
  // Picking a tag makes it the tag for new boxes and retags the selected box.
  function pick(tagId) {
    markActive(tagId);
    const selected = editor.selected;
    if (selected && selected.tagId !== tagId && !readOnly) editor.updateBox(selected.key, { tagId });
  }
  function drawPicker() {
    clear(picker, tags.map((t, i) => {
      const input = h("input", { type: "radio", name: "active-tag", value: t.id, checked: t.id === activeTagId, onchange: () => pick(t.id) });
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = tagColor(i);
      return h("label", { class: "choice tag-choice" }, input, swatch, h("span", {}, t.name), i < 9 ? h("kbd", { "aria-hidden": "true" }, String(i + 1)) : null);
    }));
    if (!tags.length) picker.append(h("p", { class: "muted small" }, "No tags yet: create one below to start drawing."));
  }
  const newTag = h("input", { type: "text", autocomplete: "off", "aria-label": "New tag name", placeholder: "New tag name" });
  const addTag = async () => {
    const name = newTag.value.trim();
    if (!name) return newTag.focus();
    try {
      const tag = await createTag(projectId, name);
      tags.push(tag);
      tags.sort((a, b) => a.name.localeCompare(b.name));
      editor.setTags(tags);
      newTag.value = "";
      drawPicker();
      pick(tag.id);
      toast(`Tag "${tag.name}" created.`);
    } catch (err) {
      toast(err.message, "error");
    }
  };
  newTag.addEventListener("keydown", (e) => {
    if (e.key === "Enter") addTag();
  });
  drawPicker();

  // ---- the boxes, as a list (a second way to reach them, for keyboards and screen readers) ----
  const list = h("ul", { class: "box-list" });
  function drawList() {
    const boxes = editor.boxes;
    const selected = editor.selected?.key;
    clear(list, boxes.length ? boxes.map((b, i) => {
      const name = tags.find((t) => t.id === b.tagId)?.name || "No tag";
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = tagColor(tags.findIndex((t) => t.id === b.tagId));
      return h("li", { class: b.key === selected ? "selected" : "" }, swatch,
        h("button", { type: "button", class: "link-button", "aria-pressed": String(b.key === selected), onclick: () => editor.select(b.key) }, `${i + 1}. ${name}`),
        h("span", { class: "muted small" }, `${Math.round(b.width * 100)}×${Math.round(b.height * 100)}%`),
        readOnly ? null : h("button", { type: "button", class: "icon", "aria-label": `Delete box ${i + 1} (${name})`, onclick: () => editor.removeBox(b.key) }, "✕"));
    }) : h("li", { class: "muted small" }, readOnly ? "No boxes." : "No boxes yet: drag on the image to draw one."));
  }
  drawList();

  // ---- suggested objects ----
  const suggestions = suggestionsSection(state, image, editor, { readOnly, activeTag: () => activeTagId });

  clear(side,
    readOnly ? null : h("section", { class: "editor-section" },
      h("h3", { id: "active-tag-heading" }, "Tag for new boxes"), picker,
      h("div", { class: "row new-tag" }, newTag, h("button", { type: "button", onclick: addTag }, "New tag"))),
    h("section", { class: "editor-section", "aria-labelledby": "boxes-heading" }, h("h3", { id: "boxes-heading" }, "Boxes"), list, saving),
    readOnly ? null : suggestions.element);

  return {
    editor,
    undo: undoLast,
    pickNumber: (n) => tags[n - 1] && pick(tags[n - 1].id),
  };
}

// The Smart Labeler's suggestions for this image (with a trained iteration), or class-agnostic region
// proposals without one, shown as dashed boxes above a confidence slider; accepting creates the box.
function suggestionsSection(state, image, editor, { activeTag }) {
  const projectId = state.project.id;
  const toggle = h("input", { type: "checkbox", id: "show-suggestions" });
  const slider = h("input", { type: "range", min: "0", max: "100", step: "5", value: "30", id: "suggest-confidence" });
  const sliderValue = h("output", { for: "suggest-confidence" }, "30%");
  const list = h("ul", { class: "suggestion-list" });
  const note = h("p", { class: "small muted", "aria-live": "polite" });
  const body = h("div", { class: "suggest-body", hidden: true },
    h("label", { for: slider.id }, "Minimum confidence ", sliderValue), slider, note, list);
  let all = null;
  const done = new Set();

  const show = () => {
    const threshold = Number(slider.value) / 100;
    sliderValue.textContent = `${slider.value}%`;
    const boxes = editor.boxes;
    // What is already boxed is not suggested again.
    const visible = (all || []).filter((p) => !done.has(p.id) && p.probability >= threshold && !boxes.some((b) => iou(b, p) > 0.7)).slice(0, 30);
    editor.setProposals(toggle.checked ? visible : []);
    clear(list, visible.map((p) => {
      const name = state.tags.find((t) => t.id === p.tagId)?.name || "Object";
      const text = `${name} ${percent(p.probability, 0)}`;
      return h("li", {}, h("button", { type: "button", class: "link-button", onclick: () => editor.selectProposal(p.id) }, text),
        h("span", { class: "spacer" }),
        h("button", { type: "button", "aria-label": `Accept ${text}`, onclick: () => editor.acceptProposal(p.id) }, "Accept"),
        h("button", { type: "button", "aria-label": `Reject ${text}`, onclick: () => editor.rejectProposal(p.id) }, "Reject"));
    }));
    if (all && !visible.length) list.append(h("li", { class: "muted small" }, all.length ? "No more suggestions above this confidence." : "No objects found."));
  };

  async function load() {
    note.textContent = "Looking for objects…";
    const iteration = completedIterations(state.iterations)[0];
    try {
      if (iteration) {
        const [found] = await api.post(`/projects/${projectId}/tagsandregions/suggestions`, undefined, { iterationId: iteration.id, imageIds: image.id });
        all = (found?.predictions || []).filter((p) => p.boundingBox).map((p, i) => ({ id: `s${i}`, tagId: p.tagId, probability: p.probability, ...p.boundingBox }));
        note.textContent = `Suggestions from ${iteration.name}.`;
      }
    } catch {
      all = null; // fall back to region proposals below
    }
    if (!all) {
      try {
        const found = await api.post(`/projects/${projectId}/images/${image.id}/regionproposals`);
        all = (found?.proposals || []).map((p, i) => ({ id: `r${i}`, tagId: null, probability: p.confidence, ...p.boundingBox }));
        note.textContent = "Possible objects (no trained iteration yet): accepting one gives it the tag for new boxes.";
      } catch (err) {
        note.textContent = err.message;
        all = [];
      }
    }
    show();
  }

  toggle.addEventListener("change", () => {
    body.hidden = !toggle.checked;
    if (toggle.checked && !all) load();
    else show();
  });
  slider.addEventListener("input", show);
  editor.addEventListener("proposalaccepted", ({ detail: p }) => {
    const tagId = p.tagId || activeTag();
    if (!tagId) {
      toast("Create a tag first, then accept the suggestion.", "error");
      return show();
    }
    done.add(p.id);
    editor.addBox({ tagId, left: p.left, top: p.top, width: p.width, height: p.height });
    show();
  });
  editor.addEventListener("proposalrejected", ({ detail: p }) => {
    done.add(p.id);
    show();
  });
  const element = h("section", { class: "editor-section", "aria-labelledby": "suggest-heading" },
    h("h3", { id: "suggest-heading" }, "Suggested objects"),
    h("label", { class: "choice", for: toggle.id }, toggle, h("span", {}, "Show suggested objects")),
    body);
  return { element };
}
