// The held-out images of an iteration: loaded page by page, drawn as tiles with the true and the
// predicted tags (boxes over detection thumbnails), mistakes first.
import { api } from "../api.js";
import { h, percent } from "../ui.js";
import { matchBoxes, predictedTagIds, topPrediction, trueTagIds, verdict, NOTHING } from "./metrics.js";

const PAGE = 256; // the API's largest page
const MAX_IMAGES = 2048; // enough for the curves and the matrix; a bigger test set is sampled
const TILES_AT_ONCE = 24;

// Every held-out image up to MAX_IMAGES, in pages of 256. Returns {images, total}.
export async function loadHeldOut(projectId, iterationId) {
  const base = `/projects/${projectId}/iterations/${iterationId}/performance/images`;
  const total = await api.get(`${base}/count`);
  const pages = [];
  for (let skip = 0; skip < Math.min(total, MAX_IMAGES); skip += PAGE) pages.push(api.get(base, { take: PAGE, skip }));
  const images = (await Promise.all(pages)).flat();
  return { images, total };
}

// The tiles, mistakes first, TILES_AT_ONCE at a time with a "Show more" button.
export function heldOutTiles(images, options) {
  const judged = images.map((image) => ({ image, ...verdict(image, options) }));
  // A stable sort keeps the API's order within mistakes and within correct ones.
  judged.sort((a, b) => Number(b.mistake) - Number(a.mistake));
  const mistakes = judged.filter((j) => j.mistake).length;
  const list = h("ul", { class: "image-grid heldout-grid", "aria-label": "Held-out images, mistakes first" });
  const more = h("button", { type: "button" }, "Show more");
  let shown = 0;
  const showMore = () => {
    const next = judged.slice(shown, shown + TILES_AT_ONCE);
    list.append(...next.map((j) => tile(j, options)));
    shown += next.length;
    more.hidden = shown >= judged.length;
    more.textContent = `Show more (${judged.length - shown} left)`;
  };
  more.addEventListener("click", showMore);
  showMore();
  return h(
    "div",
    {},
    h("p", { class: "muted" }, mistakes ? `${mistakes} of ${judged.length} images have a mistake at these thresholds; they come first.` : `No mistakes on the ${judged.length} held-out images at these thresholds.`),
    list,
    h("div", { class: "pager" }, more),
  );
}

function tile({ image, mistake, reason }, options) {
  const { detection, multilabel, threshold, overlap, tagName, tagColorOf } = options;
  const thumb = h("img", { src: image.thumbnailUri, alt: "" });
  let picture = thumb;
  let truthText;
  let predictedText;
  if (detection) {
    const frame = h("div", { class: "heldout-frame" }, thumb);
    if (image.width && image.height) frame.style.aspectRatio = `${image.width} / ${image.height}`;
    const { hits, wrong } = matchBoxes(image, threshold, overlap);
    for (const r of image.regions || []) frame.append(box(r, tagColorOf(r.tagId), "truth"));
    for (const p of [...hits, ...wrong]) frame.append(box(p.boundingBox, tagColorOf(p.tagId), wrong.includes(p) ? "predicted wrong" : "predicted"));
    picture = frame;
    truthText = countBy((image.regions || []).map((r) => r.tagId), tagName) || "no boxes";
    predictedText = countBy([...hits, ...wrong].map((p) => p.tagId), tagName) || "no boxes";
  } else if (multilabel) {
    truthText = trueTagIds(image).map(tagName).join(", ") || "no tag";
    predictedText = predictedTagIds(image, threshold).map((id) => `${tagName(id)} ${percent(scoreOf(image, id), 0)}`).join(", ") || "nothing above the threshold";
  } else {
    truthText = trueTagIds(image).map(tagName).join(", ") || "no tag";
    const top = topPrediction(image, threshold);
    predictedText = top === NOTHING ? "nothing above the threshold" : `${tagName(top)} ${percent(scoreOf(image, top), 0)}`;
  }
  return h(
    "li",
    { class: `tile heldout ${mistake ? "mistake" : "correct"}`, "aria-label": `${mistake ? "Mistake" : "Correct"}: true ${truthText}; predicted ${predictedText}` },
    h("a", { href: image.imageUri || image.thumbnailUri, target: "_blank", rel: "noopener", class: "heldout-link", "aria-label": "Open the image at full size in a new tab" }, picture),
    h(
      "div",
      { class: "heldout-text" },
      h("span", { class: `badge ${mistake ? "error" : "ok"}` }, mistake ? "Mistake" : "Correct"),
      h("div", {}, h("span", { class: "muted" }, "True: "), truthText),
      h("div", {}, h("span", { class: "muted" }, "Predicted: "), predictedText),
      mistake && reason ? h("div", { class: "small muted" }, reason) : null,
    ),
  );
}

function scoreOf(image, tagId) {
  return Math.max(0, ...(image.predictions || []).filter((p) => p.tagId === tagId).map((p) => p.probability));
}

function countBy(tagIds, tagName) {
  const counts = new Map();
  for (const id of tagIds) counts.set(id, (counts.get(id) || 0) + 1);
  return [...counts].map(([id, n]) => (n > 1 ? `${n} × ${tagName(id)}` : tagName(id))).join(", ");
}

// A box over a thumbnail: positioned in percent of the frame (CSSOM, which the CSP allows).
function box(b, color, kind) {
  const el = h("span", { class: `heldout-box ${kind}`, "aria-hidden": "true" });
  el.style.left = `${b.left * 100}%`;
  el.style.top = `${b.top * 100}%`;
  el.style.width = `${b.width * 100}%`;
  el.style.height = `${b.height * 100}%`;
  el.style.borderColor = color;
  return el;
}
