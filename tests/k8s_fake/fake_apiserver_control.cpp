// The fake API server's control endpoints, for shell scripts (see fake_apiserver.hpp).
#include <httplib.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "tests/k8s_fake/fake_apiserver.hpp"

namespace nicproxy::testing {

void FakeApiServer::installControl(httplib::Server& server) {
  // Control endpoints for scripts: POST /fake/apply?resource=R (body: the object),
  // /fake/delete?resource=R&namespace=N&name=X, /fake/compact, /fake/close-watches,
  // /fake/bookmark?resource=R, /fake/raw?resource=R (body: bytes for one chunk).
  // GET /fake/watches?resource=R: open watches; GET /fake/requests: apiRequests() as JSON.
  server.Post("/fake/apply", [this](const httplib::Request& req, httplib::Response& res) {
    boost::system::error_code ec;
    auto object = boost::json::parse(req.body, ec);
    if (ec || !object.is_object()) {
      res.status = 400;
      res.set_content("body is not a JSON object\n", "text/plain");
      return;
    }
    res.set_content(std::to_string(apply(req.get_param_value("resource"), std::move(object))) + "\n", "text/plain");
  });
  server.Post("/fake/delete", [this](const httplib::Request& req, httplib::Response& res) {
    res.set_content(std::to_string(remove(req.get_param_value("resource"), req.get_param_value("namespace"),
                                          req.get_param_value("name"))) + "\n", "text/plain");
  });
  server.Post("/fake/compact", [this](const httplib::Request&, httplib::Response& res) {
    compact();
    res.set_content("ok\n", "text/plain");
  });
  server.Post("/fake/close-watches", [this](const httplib::Request&, httplib::Response& res) {
    closeWatches();
    res.set_content("ok\n", "text/plain");
  });
  server.Post("/fake/bookmark", [this](const httplib::Request& req, httplib::Response& res) {
    sendBookmark(req.get_param_value("resource"));
    res.set_content("ok\n", "text/plain");
  });
  server.Post("/fake/raw", [this](const httplib::Request& req, httplib::Response& res) {
    sendRaw(req.get_param_value("resource"), {req.body});
    res.set_content("ok\n", "text/plain");
  });
  server.Get("/fake/requests", [this](const httplib::Request&, httplib::Response& res) {
    boost::json::array records;
    for (const ApiRequestRecord& r : apiRequests()) records.push_back(r.toJson());
    res.set_content(boost::json::serialize(records) + "\n", "application/json");
  });
  server.Get("/fake/watches", [this](const httplib::Request& req, httplib::Response& res) {
    res.set_content(std::to_string(openWatches(req.get_param_value("resource"))) + "\n", "text/plain");
  });
}

}  // namespace nicproxy::testing
