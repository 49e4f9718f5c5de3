// The image editor: one image large, previous / next within the grid's filter (J/K, arrows), its tags
// (classification) or boxes (detection, through the BoxEditor), metadata, delete. Routed from the
// Training Images tab when the route names an image: #/projects/{id}/images/{imageId}?{filter}&i={index}.
import { api } from "../api.js";
import { clear, confirmDialog, errorNotice, h, toast, when } from "../ui.js";
import { countImages, editorHash, fetchImages, gridHash, listParams } from "../editor/list.js";
import { detectionEditor } from "../editor/detection.js";
import { metadataSection } from "../editor/metadata.js";
import { createTag } from "../projects.js";

export async function render(root, state) {
  const { ctx } = state;
  const projectId = state.project.id;
  const list = listParams(ctx.params);
  const readOnly = Boolean(list.iteration);
  const index = ctx.params.i !== undefined && /^\d+$/.test(ctx.params.i) ? Number(ctx.params.i) : null;
  const back = gridHash(projectId, list, { page: index === null ? list.page : Math.floor(index / list.pageSize) + 1 });

  const [found, neighbours, total] = await Promise.all([
    api.get(`/projects/${projectId}/images/id`, { imageIds: ctx.item, iterationId: list.iteration }),
    index === null ? Promise.resolve(null) : fetchImages(projectId, list, Math.max(0, index - 1), 3),
    countImages(projectId, list),
  ]);
  if (!ctx.isCurrent()) return;
  const image = found?.[0];
  if (!image) {
    clear(root, errorNotice({ message: "This image is not in the project any more: it may have been deleted." }), h("p", {}, h("a", { href: back }, "Back to the images")));
    return;
  }
  const { prev, next } = around(neighbours, image.id, index);

  const go = (target) => target && ctx.navigate(editorHash(projectId, target.id, list, target.index));
  const prevButton = h("button", { type: "button", disabled: !prev, onclick: () => go(prev), "aria-keyshortcuts": "K ArrowLeft" }, "‹ Previous");
  const nextButton = h("button", { type: "button", disabled: !next, onclick: () => go(next), "aria-keyshortcuts": "J ArrowRight" }, "Next ›");
  const position = index !== null && index < total ? `Image ${index + 1} of ${total}` : "Image";
  const head = h("div", { class: "editor-head" },
    h("a", { href: back, class: "back-link" }, "← All images in this view"),
    h("h2", {}, position),
    h("div", { class: "row" }, prevButton, nextButton,
      readOnly ? null : h("button", { type: "button", class: "danger", onclick: () => deleteImage(state, image, list, next, prev, back) }, "Delete image")));

  const stageHost = h("div", { class: "editor-stage" });
  const side = h("aside", { class: "editor-side", "aria-label": "Image details" });
  const main = h("div", { class: "editor-main" }, stageHost);
  clear(root, head, readOnly ? h("div", { class: "notice" }, "This is the image as the iteration was trained on it: switch to the workspace to change it.") : null,
    h("div", { class: "editor-layout" }, main, side));

  let boxes = null;
  if (state.detection) {
    boxes = detectionEditor(state, image, { readOnly, stageHost, side });
    main.append(zoomBar(boxes.editor, readOnly), shortcuts(true, readOnly));
  } else {
    stageHost.append(h("div", { class: "stage image-stage" }, h("img", { src: image.originalImageUri, alt: `Image ${index !== null ? index + 1 : ""}: ${(image.tags || []).map((t) => t.tagName).join(", ") || "untagged"}` })));
    main.append(shortcuts(false, readOnly));
    side.append(tagSection(state, image, readOnly));
  }
  side.append(
    metadataSection(state, image, { readOnly, onsaved: () => state.reload() }),
    h("section", { class: "editor-section" }, h("h3", {}, "Details"),
      h("p", { class: "small muted" }, `${image.width} × ${image.height} px · added ${when(image.created)}`)));

  // The page's keys. A key the canvas handled (defaultPrevented) or typed into a field is not ours.
  const onKey = (e) => {
    if (!ctx.isCurrent() || !root.isConnected) return document.removeEventListener("keydown", onKey);
    if (e.defaultPrevented || document.querySelector("dialog[open]")) return;
    const target = e.target;
    if (target.closest?.("input, textarea, select, [contenteditable]")) return;
    const editor = boxes?.editor;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
      if (boxes && !readOnly) {
        e.preventDefault();
        boxes.undo();
      }
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key;
    if (key === "ArrowRight" || key === "j" || key === "J") return e.preventDefault(), go(next);
    if (key === "ArrowLeft" || key === "k" || key === "K") return e.preventDefault(), go(prev);
    if (!editor) return;
    if (key === "+" || key === "=") return e.preventDefault(), editor.zoomBy(1.25);
    if (key === "-" || key === "_") return e.preventDefault(), editor.zoomBy(1 / 1.25);
    if (readOnly) return;
    if (key === "n" || key === "N") return e.preventDefault(), editor.startDrawing();
    if (key === "Escape") return editor.cancel();
    if ((key === "Delete" || key === "Backspace") && editor.deleteSelected()) return e.preventDefault();
    if (/^[1-9]$/.test(key)) return e.preventDefault(), boxes.pickNumber(Number(key));
  };
  document.addEventListener("keydown", onKey);
}

// The previous and next images of the list around this one (and their positions in it).
function around(window, imageId, index) {
  if (!window || index === null) return { prev: null, next: null };
  const start = Math.max(0, index - 1);
  const at = window.findIndex((i) => i.id === imageId);
  const item = (i, position) => (window[i] ? { id: window[i].id, index: position } : null);
  if (at >= 0) return { prev: item(at - 1, start + at - 1), next: item(at + 1, start + at + 1) };
  // This image left the list (e.g. it got a tag while viewing "Untagged"): its old place holds the next one.
  const here = index - start;
  return { prev: index > 0 ? item(here - 1, index - 1) : null, next: item(here, index) };
}

function zoomBar(editor, readOnly) {
  return h("div", { class: "row zoom-bar", role: "toolbar", "aria-label": "Image view" },
    readOnly ? null : h("button", { type: "button", onclick: () => editor.startDrawing(), "aria-keyshortcuts": "N" }, "+ New box"),
    h("span", { class: "spacer" }),
    h("button", { type: "button", class: "icon", "aria-label": "Zoom out", onclick: () => editor.zoomBy(1 / 1.25) }, "−"),
    h("button", { type: "button", class: "icon", "aria-label": "Zoom in", onclick: () => editor.zoomBy(1.25) }, "+"),
    h("button", { type: "button", onclick: () => editor.resetZoom() }, "Fit"));
}

function shortcuts(detection, readOnly) {
  const k = (...keys) => keys.flatMap((key, i) => [i ? "/" : "", h("kbd", {}, key)]);
  const items = [[k("←", "K"), "previous"], [k("→", "J"), "next"]];
  if (detection) {
    if (!readOnly) {
      items.push([k("N"), "new box"], [k("Delete"), "delete box"], [[h("kbd", {}, "1"), "–", h("kbd", {}, "9")], "tag"], [k("Esc"), "cancel"],
        [[h("kbd", {}, "Ctrl"), "+", h("kbd", {}, "Z")], "undo"]);
    }
    items.push([k("+", "−"), "or wheel: zoom"], [[h("kbd", {}, "Space"), "+drag"], "pan"]);
  }
  return h("p", { class: "shortcuts small muted" }, h("span", { class: "visually-hidden" }, "Keyboard shortcuts: "),
    items.map(([keys, what]) => h("span", { class: "shortcut" }, keys, " ", what)));
}

// Classification: the image's tags as chips, removable; a picker to add one.
function tagSection(state, image, readOnly) {
  const projectId = state.project.id;
  const present = new Set((image.tags || []).map((t) => t.tagId));
  const chips = h("ul", { class: "chips tag-chips", "aria-label": "Tags on this image" },
    (image.tags || []).map((t) => h("li", { class: "chip" }, t.tagName,
      readOnly ? null : h("button", { type: "button", "aria-label": `Remove tag ${t.tagName}`, onclick: async () => {
        try {
          await api.delete(`/projects/${projectId}/images/tags`, { imageIds: image.id, tagIds: t.tagId });
          state.reload();
        } catch (err) {
          toast(err.message, "error");
        }
      } }, "✕"))));
  const section = h("section", { class: "editor-section", "aria-labelledby": "tags-heading" }, h("h3", { id: "tags-heading" }, "Tags"),
    present.size ? chips : h("p", { class: "muted small" }, "Untagged."));
  if (readOnly) return section;
  const choices = state.tags.filter((t) => !present.has(t.id));
  const select = h("select", { id: "add-tag-select", "aria-label": "Tag to add" },
    choices.map((t) => h("option", { value: t.id }, t.name)), h("option", { value: "__new" }, "New tag…"));
  const name = h("input", { type: "text", "aria-label": "New tag name", placeholder: "New tag name", hidden: choices.length > 0, autocomplete: "off" });
  select.addEventListener("change", () => {
    name.hidden = select.value !== "__new";
    if (!name.hidden) name.focus();
  });
  const add = async () => {
    try {
      let tagId = select.value;
      if (tagId === "__new") {
        if (!name.value.trim()) return name.focus();
        tagId = (await createTag(projectId, name.value)).id;
      }
      await api.post(`/projects/${projectId}/images/tags`, { tags: [{ imageId: image.id, tagId }] });
      state.reload();
    } catch (err) {
      toast(err.message, "error");
    }
  };
  name.addEventListener("keydown", (e) => {
    if (e.key === "Enter") add();
  });
  section.append(h("div", { class: "row add-tag" }, select, name, h("button", { type: "button", onclick: add }, "Add tag")));
  if (!state.multilabel && present.size) section.append(h("p", { class: "small muted" }, "This project expects one tag per image."));
  return section;
}

async function deleteImage(state, image, list, next, prev, back) {
  const yes = await confirmDialog({ title: "Delete this image?", message: "It is removed from the workspace with its tags and boxes.", confirm: "Delete image" });
  if (!yes) return;
  try {
    await api.delete(`/projects/${state.project.id}/images`, { imageIds: image.id });
    toast("Image deleted.");
    // The next image moves up into this one's place.
    if (next) state.ctx.navigate(editorHash(state.project.id, next.id, list, next.index - 1));
    else if (prev) state.ctx.navigate(editorHash(state.project.id, prev.id, list, prev.index));
    else state.ctx.navigate(back);
  } catch (err) {
    toast(err.message, "error");
  }
}
