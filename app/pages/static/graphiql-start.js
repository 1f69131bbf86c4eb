// Starts GraphiQL against this server's /graphql, over HTTP for queries and mutations
// and graphql-transport-ws for subscriptions; every file it needs is served by the app.
(function () {
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint");
  var ws = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + endpoint;
  var fetcher = GraphiQL.createFetcher({ url: endpoint, subscriptionUrl: ws });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true })
  );
})();
