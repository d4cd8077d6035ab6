document.querySelectorAll(".toggle button").forEach(function (button) {
  button.addEventListener("click", function () {
    var box = button.closest(".channel");
    box.querySelectorAll(".toggle button").forEach(function (b) { b.classList.toggle("on", b === button); });
    box.querySelectorAll("[data-pane]").forEach(function (pane) { pane.hidden = pane.dataset.pane !== button.dataset.show; });
  });
});
