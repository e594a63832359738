// Progressive enhancement only: every page works without this file.
"use strict";
(() => {
  // Ask before destructive actions (forms marked data-confirm).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  }
  // Do not send a form twice while the server works on it.
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", (e) => {
      if (e.defaultPrevented) return;
      setTimeout(() => {
        for (const b of form.querySelectorAll("button[type=submit]")) b.disabled = true;
      }, 0);
    });
  }
  // An avatar that does not load (a CDN still processing it) becomes
  // the placeholder with the initial.
  const placeholder = (img) => {
    const span = document.createElement("span");
    span.className = img.className + " placeholder";
    span.setAttribute("aria-hidden", "true");
    span.textContent = img.dataset.initial;
    img.replaceWith(span);
  };
  for (const img of document.querySelectorAll("img[data-initial]")) {
    if (img.complete && img.naturalWidth === 0) placeholder(img);
    else img.addEventListener("error", () => placeholder(img));
  }
  // Count what is left of a post's 300 graphemes.
  const text = document.querySelector("textarea[data-max-graphemes]");
  const count = document.getElementById("text-count");
  if (text && count) {
    const max = Number(text.dataset.maxGraphemes);
    const seg = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter() : null;
    const update = () => {
      const n = seg ? [...seg.segment(text.value)].length : [...text.value].length;
      count.textContent = text.value ? `${max - n}` : "";
      count.classList.toggle("over", n > max);
    };
    text.addEventListener("input", update);
    update();
  }
})();
