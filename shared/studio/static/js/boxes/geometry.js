// The one conversion between image pixels and Custom Vision's normalised boxes. Pure functions, no DOM:
// drawing, showing predictions and showing proposals all go through here, and the browser tests check it.
//   box:  {left, top, width, height}, each a fraction (0..1) of the image's width or height
//   rect: {x, y, w, h} in image pixels

const clamp01 = (value) => Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0));

export function toPixels(box, imageWidth, imageHeight) {
  return { x: box.left * imageWidth, y: box.top * imageHeight, w: box.width * imageWidth, h: box.height * imageHeight };
}

// A pixel rect (negative sizes allowed: a drag up or left) -> a box cut to the part inside the image.
export function toNormalised(rect, imageWidth, imageHeight) {
  const x1 = Math.min(rect.x, rect.x + rect.w);
  const x2 = Math.max(rect.x, rect.x + rect.w);
  const y1 = Math.min(rect.y, rect.y + rect.h);
  const y2 = Math.max(rect.y, rect.y + rect.h);
  const left = clamp01(x1 / imageWidth);
  const top = clamp01(y1 / imageHeight);
  const right = clamp01(x2 / imageWidth);
  const bottom = clamp01(y2 / imageHeight);
  return { left, top, width: Math.max(0, right - left), height: Math.max(0, bottom - top) };
}

// Moves a box back inside the image keeping its size (shrinking it only when it is larger than the image).
export function clampBox(box) {
  const width = clamp01(box.width);
  const height = clamp01(box.height);
  const left = Math.min(Math.max(0, Number.isFinite(box.left) ? box.left : 0), 1 - width);
  const top = Math.min(Math.max(0, Number.isFinite(box.top) ? box.top : 0), 1 - height);
  return { left, top, width, height };
}

// Two corners of a drag in image pixels, in any order -> the box between them, inside the image.
export function fromCorners(x1, y1, x2, y2, imageWidth, imageHeight) {
  return toNormalised({ x: x1, y: y1, w: x2 - x1, h: y2 - y1 }, imageWidth, imageHeight);
}

export function iou(a, b) {
  const ix = Math.max(0, Math.min(a.left + a.width, b.left + b.width) - Math.max(a.left, b.left));
  const iy = Math.max(0, Math.min(a.top + a.height, b.top + b.height) - Math.max(a.top, b.top));
  const inter = ix * iy;
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}
