// The interactive API docs (/docs): Swagger UI over this server's /openapi.json.
// Authorize with an API key ("dsk_..."); nothing is loaded from another site.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
  });
});
