// GraphiQL on /graphql (dev only): React, ReactDOM and GraphiQL are served by
// the app itself (gql/http/graphiql.py), so the page works offline and under a
// CSP that allows scripts from this origin only.
(function () {
  "use strict";

  function csrfToken() {
    var match = document.cookie.match(/(?:^|; )(?:__Host-)?ag_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : null;
  }

  // Signed in with cookies (the SPA's way), a POST needs the CSRF header; a
  // bearer token can be given in GraphiQL's header editor instead.
  async function fetcher(params, options) {
    var headers = {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json;q=0.9",
    };
    var csrf = csrfToken();
    if (csrf) headers["x-csrf-token"] = csrf;
    var extra = (options && options.headers) || {};
    Object.keys(extra).forEach(function (name) {
      headers[name] = extra[name];
    });
    var response = await fetch(window.location.pathname, {
      method: "POST",
      credentials: "same-origin",
      headers: headers,
      body: JSON.stringify(params),
    });
    return response.json();
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
    })
  );
})();
