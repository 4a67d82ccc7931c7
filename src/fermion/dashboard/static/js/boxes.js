// Boxes drawn over an image, in SVG: the image at its own size as the viewBox, so boxes
// given in the image's pixels land on their objects however large the figure is shown.
const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

// The same class gets the same colour in every figure of a page.
function colourOf(label, classes) {
  const known = classes.indexOf(label);
  const index = known >= 0 ? known : [...label].reduce((sum, c) => sum + c.charCodeAt(0), 0);
  return COLOURS[index % COLOURS.length];
}

// boxes: [{box: [x0, y0, x1, y1], label, score?}]
export function boxedImage(src, width, height, boxes, classes = []) {
  const line = Math.max(1, Math.round(Math.max(width, height) / 150));
  const font = Math.max(8, Math.round(Math.max(width, height) / 14));
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${boxes.length} box(es)` },
    svg("image", { href: src, width, height }),
    // Lowest score first, so that where two classes claim one object the best is on top.
    ...[...boxes].sort((a, b) => (a.score ?? 1) - (b.score ?? 1)).flatMap(({ box: [x0, y0, x1, y1], label, score }) => {
      const colour = colourOf(label, classes);
      const text = score === undefined ? label : `${label} ${score.toFixed(2)}`;
      return [
        svg("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, fill: "none", stroke: colour, "stroke-width": line }),
        svg("text", { x: x0 + line, y: Math.max(font, y0 - line), fill: colour, "font-size": font, "paint-order": "stroke", stroke: "#000", "stroke-width": line / 2 }, text),
      ];
    }));
}

// An image's own size, once the browser has decoded it.
export function imageSize(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve({ width: image.naturalWidth, height: image.naturalHeight });
    image.onerror = () => reject(new Error("the browser cannot show this image"));
    image.src = src;
  });
}
