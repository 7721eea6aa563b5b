// Paging and search reset for the dashboard's live table (htmx does the fetching).
(function () {
  const form = document.getElementById("filters");
  const page = document.getElementById("page");
  form.addEventListener("input", function (event) {
    if (event.target.name !== "page") page.value = "1";
  });
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  document.addEventListener("click", function (event) {
    const button = event.target.closest("#rows .pager button[data-page]");
    if (!button || button.disabled) return;
    page.value = button.dataset.page;
    htmx.trigger(form, "change");
  });
})();
