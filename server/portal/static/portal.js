/* The portal's only script: fold the main menu on narrow screens (without it, the menu stays open). */
(function () {
  var button = document.querySelector(".menu-toggle");
  var nav = document.querySelector(".main-nav");
  if (!button || !nav) { return; }
  nav.classList.add("foldable");
  button.addEventListener("click", function () {
    var open = nav.classList.toggle("menu-open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
}());
