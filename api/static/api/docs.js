// The API docs page: Swagger UI on Hone's own OpenAPI schema. "Try it out" works with the
// browser's session (the CSRF token rides along) or with a token entered under "Authorize".
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  var csrf = root.dataset.csrf;
  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    deepLinking: true,
    persistAuthorization: false,
    requestInterceptor: function (request) {
      if (csrf) {
        request.headers["X-CSRFToken"] = csrf;
      }
      return request;
    },
  });
})();
