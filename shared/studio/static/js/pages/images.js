// The Training Images tab: a rail (All / Tagged / Untagged, each tag with its count, tag management, an
// iteration selector) and a paged grid of thumbnails with selection (tag, untag, delete). An image id
// in the route (`state.ctx.item`) opens the image editor instead. Dropping files anywhere on the tab
// opens the upload dialog.
import { api } from "../api.js";
import { limits } from "../config.js";
import { clear, confirmDialog, errorNotice, field, h, openDialog, toast } from "../ui.js";
import { countImages, editorHash, fetchImages, gridHash, listParams } from "../editor/list.js";
import { completedIterations, createTag } from "../projects.js";

export async function render(root, state) {
  if (state.ctx.item) return (await import("./editor.js")).render(root, state);
  const projectId = state.project.id;
  const list = listParams(state.ctx.params);
  const iteration = list.iteration ? state.iterations.find((i) => i.id === list.iteration) : null;
  const readOnly = Boolean(list.iteration);
  const skip = (list.page - 1) * list.pageSize;

  const [tags, counts, images, total] = await Promise.all([
    list.iteration ? api.get(`/projects/${projectId}/tags`, { iterationId: list.iteration }) : Promise.resolve(state.tags),
    Promise.all([
      api.get(`/projects/${projectId}/images/count`, { iterationId: list.iteration }),
      api.get(`/projects/${projectId}/images/tagged/count`, { iterationId: list.iteration }),
      api.get(`/projects/${projectId}/images/untagged/count`, { iterationId: list.iteration }),
    ]),
    fetchImages(projectId, list, skip, list.pageSize),
    countImages(projectId, list),
  ]);
  if (!state.ctx.isCurrent()) return;
  tags.sort((a, b) => a.name.localeCompare(b.name));
  const [allCount, taggedCount, untaggedCount] = counts;
  const view = { state, list, tags, images, total, readOnly, iteration, selected: new Set(), lastIndex: null };

  const content = h("div", { class: "images-content" });
  clear(root, h("div", { class: "layout images-layout" }, rail(view, allCount, taggedCount, untaggedCount), content));
  drawContent(content, view, allCount);
  if (!readOnly) listenForDrops(state);
}

function rail(view, allCount, taggedCount, untaggedCount) {
  const { state, list, tags } = view;
  const projectId = state.project.id;
  const item = (label, count, changes, current) =>
    h("li", {}, h("a", { href: gridHash(projectId, list, { page: 1, tag: null, filter: null, ...changes }), "aria-current": current ? "true" : null },
      h("span", { class: "rail-name" }, label), h("span", { class: "count", "aria-label": `${count} images` }, String(count))));

  const iterations = completedIterations(state.iterations);
  const select = h("select", { onchange: (e) => state.ctx.navigate(gridHash(projectId, list, { iteration: e.target.value || null, tag: null, filter: null, page: 1 })) },
    h("option", { value: "" }, "Workspace (current images)"),
    iterations.map((i) => h("option", { value: i.id, selected: i.id === list.iteration }, `What ${i.name} was trained on`)));

  return h("nav", { class: "rail images-rail", "aria-label": "Image filters" },
    h("h2", {}, "Images"),
    h("ul", {},
      item("All", allCount, { filter: "all" }, list.filter === "all"),
      item("Tagged", taggedCount, { filter: "tagged" }, list.filter === "tagged"),
      item("Untagged", untaggedCount, { filter: "untagged" }, list.filter === "untagged")),
    h("h2", { id: "rail-tags-heading" }, "Tags"),
    tags.length
      ? h("ul", { "aria-labelledby": "rail-tags-heading" }, tags.map((t) => item(t.name, t.imageCount ?? 0, { tag: t.id }, list.tag === t.id)))
      : h("p", { class: "muted small rail-note" }, "No tags yet."),
    view.readOnly ? null : h("div", { class: "rail-actions" }, h("button", { type: "button", onclick: () => addTagDialog(state) }, "+ Add tag")),
    iterations.length ? h("div", { class: "rail-iteration" }, field("Show images of", select)) : null);
}

function drawContent(content, view, allCount) {
  const { state, list, images, total, readOnly } = view;
  const projectId = state.project.id;
  const tag = list.tag ? view.tags.find((t) => t.id === list.tag) : null;
  const title = tag ? `Tag: ${tag.name}` : { all: "All images", tagged: "Tagged images", untagged: "Untagged images" }[list.filter];
  const head = h("div", { class: "page-head images-head" },
    h("div", {}, h("h2", {}, title), h("p", { class: "muted small" }, `${total} image${total === 1 ? "" : "s"}${view.iteration ? ` in ${view.iteration.name}` : ""}`)),
    tag && !readOnly ? h("div", { class: "row" },
      h("button", { type: "button", onclick: () => renameTagDialog(state, tag) }, "Rename tag"),
      h("button", { type: "button", class: "danger", onclick: () => deleteTag(state, tag) }, "Delete tag")) : null);
  const notices = h("div", { "aria-live": "polite" });
  if (view.iteration) notices.append(h("div", { class: "notice" }, `These are the images ${view.iteration.name} was trained on, with the tags they had then. Choose "Workspace" to change images.`));

  if (!allCount && !readOnly) {
    clear(content, head, h("div", { class: "empty" },
      h("strong", {}, "No images yet"),
      h("p", {}, state.detection ? "Add photos of the objects you want to find, then draw a box around each one." : "Add photos for each tag you want to recognise: at least 5 per tag, 15 or more works better."),
      h("p", {}, "Drop image files anywhere on this page, or:"),
      h("button", { type: "button", class: "primary", onclick: () => state.openDialog("upload") }, "Add images")));
    return;
  }
  if (!images.length) {
    clear(content, head, notices, h("div", { class: "empty" },
      h("strong", {}, list.page > 1 ? "No images on this page" : "No images match this filter"),
      h("p", {}, h("a", { href: gridHash(projectId, list, { page: 1, tag: null, filter: null }) }, "Show all images"))));
    return;
  }

  const grid = h("ul", { class: "image-grid", "aria-label": "Images" });
  const tools = readOnly ? null : selectionTools(view, grid);
  images.forEach((image, index) => grid.append(tile(view, image, index, tools)));
  clear(content, head, notices, tools?.element, grid, pager(view));
}

function describeImage(view, image) {
  if (view.state.detection) {
    const n = image.regions?.length || 0;
    return n ? `${n} box${n === 1 ? "" : "es"}` : "No boxes";
  }
  return image.tags?.length ? image.tags.map((t) => t.tagName).join(", ") : "Untagged";
}

function tile(view, image, index, tools) {
  const { state, list } = view;
  const position = (list.page - 1) * list.pageSize + index + 1;
  const caption = describeImage(view, image);
  const li = h("li", { class: "tile", dataset: { imageId: image.id } });
  const open = h("a", { class: "tile-open", href: editorHash(state.project.id, image.id, list, position - 1), "aria-label": `Image ${position}: ${caption}` },
    h("img", { src: image.thumbnailUri, alt: "", loading: "lazy", width: "140", height: "140" }));
  li.append(open, h("div", { class: "tile-tags", title: caption }, caption));
  if (tools) {
    const box = h("input", { type: "checkbox", "aria-label": `Select image ${position}` });
    box.addEventListener("click", (event) => tools.toggle(index, image.id, box.checked, event.shiftKey));
    li.prepend(h("label", { class: "tile-check" }, box));
    li.check = box;
  }
  return li;
}

// Selection across the current page: a checkbox per tile, "Select all on this page", Shift-click ranges.
function selectionTools(view, grid) {
  const { state } = view;
  const count = h("span", { class: "muted", "aria-live": "polite" }, "None selected");
  const all = h("input", { type: "checkbox", id: "select-all-page" });
  const buttons = [];
  const button = (label, onclick, kind) => {
    const b = h("button", { type: "button", class: kind || "", disabled: true, onclick }, label);
    buttons.push(b);
    return b;
  };
  const ids = () => [...view.selected];
  const tiles = () => [...grid.children];
  const sync = () => {
    const n = view.selected.size;
    count.textContent = n ? `${n} selected` : "None selected";
    for (const b of buttons) b.disabled = !n;
    all.checked = n > 0 && n === view.images.length;
    all.indeterminate = n > 0 && n < view.images.length;
    for (const li of tiles()) {
      const on = view.selected.has(li.dataset.imageId);
      li.classList.toggle("selected", on);
      if (li.check) li.check.checked = on;
    }
  };
  all.addEventListener("change", () => {
    view.selected = new Set(all.checked ? view.images.map((i) => i.id) : []);
    sync();
  });
  const toggle = (index, id, on, shift) => {
    if (shift && view.lastIndex !== null) {
      const [a, b] = [Math.min(view.lastIndex, index), Math.max(view.lastIndex, index)];
      for (const image of view.images.slice(a, b + 1)) on ? view.selected.add(image.id) : view.selected.delete(image.id);
    } else if (on) view.selected.add(id);
    else view.selected.delete(id);
    view.lastIndex = index;
    sync();
  };
  const element = h("div", { class: "grid-tools", role: "toolbar", "aria-label": "Selected images" },
    h("label", { class: "choice select-all", for: all.id }, all, h("span", {}, "Select all on this page")),
    count,
    h("span", { class: "spacer" }),
    state.detection ? null : button("Tag…", () => tagDialog(view, ids(), true)),
    state.detection ? null : button("Untag…", () => tagDialog(view, ids(), false)),
    button("Delete…", () => deleteImages(view, ids()), "danger"));
  return { element, toggle };
}

function pager(view) {
  const { state, list, total } = view;
  const pages = Math.max(1, Math.ceil(total / list.pageSize));
  if (pages <= 1) return null;
  const link = (label, page, rel) =>
    page < 1 || page > pages
      ? h("button", { type: "button", disabled: true }, label)
      : h("a", { class: "button", rel, href: gridHash(state.project.id, list, { page }) }, label);
  return h("nav", { class: "pager", "aria-label": "Pages" },
    link("Previous", list.page - 1, "prev"),
    h("span", { class: "muted" }, `Page ${list.page} of ${pages}`),
    link("Next", list.page + 1, "next"));
}

// A checkbox list of tags (and a new tag for "Tag"): adds or removes the chosen tags on the images.
function tagDialog(view, imageIds, adding) {
  const { state } = view;
  const present = new Set(view.images.filter((i) => imageIds.includes(i.id)).flatMap((i) => (i.tags || []).map((t) => t.tagId)));
  const choices = adding ? view.tags : view.tags.filter((t) => present.has(t.id));
  const boxes = choices.map((t) => h("input", { type: "checkbox", value: t.id }));
  const newTag = h("input", { type: "text", autocomplete: "off", placeholder: "e.g. Hemlock" });
  const problem = h("div", { "aria-live": "polite" });
  const n = imageIds.length;
  const body = [
    choices.length
      ? h("fieldset", {}, h("legend", {}, adding ? "Tags to add" : "Tags to remove"),
        choices.map((t, i) => h("label", { class: "choice" }, boxes[i], h("span", {}, `${t.name}`))))
      : h("p", { class: "muted" }, adding ? "This project has no tags yet: create one below." : "The selected images have no tags."),
    adding ? field("New tag", newTag, "Created and added to the selected images.") : null,
    problem,
  ];
  openDialog({
    title: `${adding ? "Tag" : "Untag"} ${n} image${n === 1 ? "" : "s"}`,
    body,
    actions: [
      { label: "Cancel" },
      { label: adding ? "Add tags" : "Remove tags", kind: "primary", onclick: async () => {
        const tagIds = boxes.filter((b) => b.checked).map((b) => b.value);
        clear(problem);
        try {
          if (adding && newTag.value.trim()) tagIds.push((await createTag(state.project.id, newTag.value)).id);
          if (!tagIds.length) {
            clear(problem, errorNotice({ message: adding ? "Choose a tag or type a new one." : "Choose a tag to remove." }));
            return false;
          }
          // The API takes a batch of image-tag pairs per call (and a batch of images x of tags per removal).
          if (adding) {
            const pairs = imageIds.flatMap((imageId) => tagIds.map((tagId) => ({ imageId, tagId })));
            for (const tags of chunks(pairs, limits.maxBatchImages)) await api.post(`/projects/${state.project.id}/images/tags`, { tags });
          } else {
            for (const images of chunks(imageIds, limits.maxBatchImages)) {
              for (const tags of chunks(tagIds, limits.maxBatchTags)) await api.delete(`/projects/${state.project.id}/images/tags`, { imageIds: images, tagIds: tags });
            }
          }
        } catch (err) {
          clear(problem, errorNotice(err));
          return false;
        }
        toast(`${adding ? "Tagged" : "Untagged"} ${n} image${n === 1 ? "" : "s"}.`);
        state.reload();
        return true;
      } },
    ],
  });
}

function chunks(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function deleteImages(view, imageIds) {
  const n = imageIds.length;
  const yes = await confirmDialog({ title: `Delete ${n} image${n === 1 ? "" : "s"}?`, message: "They are removed from the workspace with their tags and boxes. Iterations already trained keep their copies.", confirm: `Delete ${n} image${n === 1 ? "" : "s"}` });
  if (!yes) return;
  try {
    await api.delete(`/projects/${view.state.project.id}/images`, { imageIds });
    toast(`Deleted ${n} image${n === 1 ? "" : "s"}.`);
    view.state.reload();
  } catch (err) {
    toast(err.message, "error");
  }
}

function tagNameDialog({ title, action, value = "", onsave }) {
  const input = h("input", { type: "text", value, autocomplete: "off", required: true });
  const problem = h("div", { "aria-live": "polite" });
  openDialog({
    title,
    body: [field("Tag name", input), problem],
    actions: [
      { label: "Cancel" },
      { label: action, kind: "primary", onclick: async () => {
        const name = input.value.trim();
        if (!name) {
          clear(problem, errorNotice({ message: "Type a name for the tag." }));
          return false;
        }
        try {
          await onsave(name);
        } catch (err) {
          clear(problem, errorNotice(err));
          return false;
        }
        return true;
      } },
    ],
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") input.closest("dialog").querySelector(".dialog-actions button.primary").click();
  });
  setTimeout(() => input.focus(), 0);
}

export function addTagDialog(state, onadded) {
  tagNameDialog({ title: "Add a tag", action: "Add tag", onsave: async (name) => {
    const tag = await createTag(state.project.id, name);
    toast(`Tag "${tag.name}" added.`);
    if (onadded) onadded(tag);
    else state.reload();
  } });
}

function renameTagDialog(state, tag) {
  tagNameDialog({ title: `Rename "${tag.name}"`, action: "Rename", value: tag.name, onsave: async (name) => {
    await api.patch(`/projects/${state.project.id}/tags/${tag.id}`, { name, description: tag.description, type: tag.type });
    toast(`Renamed to "${name}".`);
    state.reload();
  } });
}

async function deleteTag(state, tag) {
  const n = tag.imageCount ?? 0;
  const yes = await confirmDialog({ title: `Delete the tag "${tag.name}"?`, message: `It is removed from ${n} image${n === 1 ? "" : "s"}${state.detection ? " with its boxes" : ""}; the images stay.`, confirm: "Delete tag" });
  if (!yes) return;
  try {
    await api.delete(`/projects/${state.project.id}/tags/${tag.id}`);
    toast(`Tag "${tag.name}" deleted.`);
    state.ctx.navigate(`#/projects/${state.project.id}/images`);
  } catch (err) {
    toast(err.message, "error");
  }
}

// Files dragged over the tab light the page up (body.dropzone-active); dropping them opens the upload
// dialog with them. One set of listeners per document, active only while this tab is shown.
let dropTarget = null;
function listenForDrops(state) {
  dropTarget = state;
  if (document.body.dataset.imagesDrop) return;
  document.body.dataset.imagesDrop = "1";
  let depth = 0;
  const active = (e) => dropTarget && dropTarget.ctx.isCurrent() && !dropTarget.ctx.item && !document.querySelector("dialog[open]") && [...(e.dataTransfer?.types || [])].includes("Files");
  const off = () => {
    depth = 0;
    document.body.classList.remove("dropzone-active");
  };
  document.addEventListener("dragenter", (e) => {
    if (!active(e)) return;
    e.preventDefault();
    depth += 1;
    document.body.classList.add("dropzone-active");
  });
  // Files dropped anywhere else must not make the browser leave the studio to show them.
  const files = (e) => [...(e.dataTransfer?.types || [])].includes("Files");
  document.addEventListener("dragover", (e) => {
    if (files(e)) e.preventDefault();
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) off();
  });
  document.addEventListener("drop", (e) => {
    if (files(e)) e.preventDefault();
    if (!active(e)) return off();
    e.preventDefault();
    off();
    const dropped = [...e.dataTransfer.files];
    if (dropped.length) dropTarget.openDialog("upload", { files: dropped });
  });
}
