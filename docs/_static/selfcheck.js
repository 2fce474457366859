// Self-check for the documentation's browser test (tests/docs/test_docs_site.py):
// after load, <body data-images="k/n" data-broken="src ..."> says how many images loaded.
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (img) { return !(img.complete && img.naturalWidth > 0); });
  document.body.setAttribute("data-images", (images.length - broken.length) + "/" + images.length);
  document.body.setAttribute("data-broken", broken.map(function (img) { return img.getAttribute("src"); }).join(" "));
});
