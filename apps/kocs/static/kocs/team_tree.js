// The team tree page (团队树): open a node to load its children in place, close it to hide them,
// "show more" to load the next page of a long level. The rows come from tree/children/ as HTML.
"use strict";
(function () {
  function table() {
    return document.getElementById("team-tree");
  }

  async function rowsFor(parent, offset) {
    const t = table();
    const params = new URLSearchParams({ parent: parent, offset: String(offset), base: t.dataset.base || "0" });
    const response = await fetch(`${t.dataset.childrenUrl}?${params}`, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "XMLHttpRequest" },
    });
    if (!response.ok) {
      throw new Error(`${response.status}`);
    }
    return response.text();
  }

  function close(row) {
    const depth = Number(row.dataset.depth);
    let next = row.nextElementSibling;
    while (next && Number(next.dataset.depth) > depth) {
      const following = next.nextElementSibling;
      next.remove();
      next = following;
    }
  }

  async function toggle(button) {
    const row = button.closest("tr");
    if (row.dataset.loading) {
      return;
    }
    if (row.dataset.open) {
      close(row);
      delete row.dataset.open;
      button.setAttribute("aria-expanded", "false");
      button.textContent = "▸";
      return;
    }
    row.dataset.loading = "1";
    try {
      row.insertAdjacentHTML("afterend", await rowsFor(row.dataset.id, 0));
      row.dataset.open = "1";
      button.setAttribute("aria-expanded", "true");
      button.textContent = "▾";
    } finally {
      delete row.dataset.loading;
    }
  }

  async function more(button) {
    const row = button.closest("tr");
    button.disabled = true;
    try {
      row.insertAdjacentHTML("afterend", await rowsFor(row.dataset.parent, row.dataset.offset));
      row.remove();
    } catch (error) {
      button.disabled = false;
    }
  }

  document.addEventListener("click", function (event) {
    const toggleButton = event.target.closest("[data-tree-toggle]");
    if (toggleButton && table() && table().contains(toggleButton)) {
      event.preventDefault();
      toggle(toggleButton);
      return;
    }
    const moreButton = event.target.closest("[data-tree-more-button]");
    if (moreButton && table() && table().contains(moreButton)) {
      event.preventDefault();
      more(moreButton);
    }
  });
})();
