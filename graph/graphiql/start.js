// Starts GraphiQL on the page graph/graphiql/page.html renders. A file of its own, not an inline
// script, so the page works under a Content-Security-Policy of script-src 'self'.
"use strict";

(function () {
  var settings = JSON.parse(document.getElementById("graphiql-settings").textContent);
  var container = document.getElementById("graphiql");

  if (typeof React === "undefined" || typeof ReactDOM === "undefined" || typeof GraphiQL === "undefined") {
    container.textContent = settings.failedMessage;
    return;
  }

  // No cookies and no CSRF token: the API reads only the Authorization header, which the
  // user puts in the Headers tab (kept in this browser's storage, like the query tabs).
  var fetcher = GraphiQL.createFetcher({ url: settings.endpoint });

  ReactDOM.createRoot(container).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: settings.defaultQuery,
      defaultHeaders: settings.defaultHeaders,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      defaultEditorToolsVisibility: "headers",
      inputValueDeprecation: true,
    }),
  );
})();
