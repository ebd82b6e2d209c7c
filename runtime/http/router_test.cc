// Router: exact routes, HEAD through GET, 405 with Allow, longest prefix,
// 404, replacing a route. Requests are built by hand: routing needs no
// connection.
#include "runtime/http/router.h"

#include <string>

#include "gtest/gtest.h"

namespace evergreen {
namespace runtime {
namespace http {
namespace {

Request Make(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

Response Say(std::string what) {
  Response r;
  r.body = std::move(what);
  return r;
}

std::string Body(const Router& router, std::string method, std::string path) {
  Request req = Make(std::move(method), std::move(path));
  Response r = router.Answer(req);
  return std::to_string(r.status) + " " + r.body;
}

TEST(RouterTest, ExactRoutesByMethodAndPath) {
  Router router;
  router.Get("/", [](Request&) { return Say("home"); })
      .Get("/a", [](Request&) { return Say("get a"); })
      .Post("/a", [](Request& req) { return Say("post a " + req.path); })
      .Route("DELETE", "/a", [](Request&) { return Say("delete a"); });
  EXPECT_EQ(Body(router, "GET", "/"), "200 home");
  EXPECT_EQ(Body(router, "GET", "/a"), "200 get a");
  EXPECT_EQ(Body(router, "POST", "/a"), "200 post a /a");
  EXPECT_EQ(Body(router, "DELETE", "/a"), "200 delete a");
  // HEAD is answered by the GET route.
  EXPECT_EQ(Body(router, "HEAD", "/a"), "200 get a");
  // Exact means exact.
  EXPECT_EQ(Body(router, "GET", "/a/"), "404 not found\n");
  EXPECT_EQ(Body(router, "GET", "/A"), "404 not found\n");
  EXPECT_EQ(Body(router, "GET", ""), "404 not found\n");
}

TEST(RouterTest, WrongMethodIs405WithAllow) {
  Router router;
  router.Get("/a", [](Request&) { return Say("a"); })
      .Route("PUT", "/a", [](Request&) { return Say("put"); })
      .Post("/form", [](Request&) { return Say("form"); });
  Request req = Make("POST", "/a");
  Response r = router.Answer(req);
  EXPECT_EQ(r.status, 405);
  ASSERT_NE(FindHeader(r.headers, "Allow"), nullptr);
  EXPECT_EQ(*FindHeader(r.headers, "Allow"), "GET, HEAD, PUT");
  router.Get("/both", [](Request&) { return Say("get"); })
      .Route("HEAD", "/both", [](Request&) { return Say("head"); });
  Request del = Make("DELETE", "/both");
  EXPECT_EQ(*FindHeader(router.Answer(del).headers, "Allow"), "GET, HEAD");
  Request head = Make("HEAD", "/form");  // no GET route: no HEAD either
  Response h = router.Answer(head);
  EXPECT_EQ(h.status, 405);
  EXPECT_EQ(*FindHeader(h.headers, "Allow"), "POST");
}

TEST(RouterTest, LongestPrefixGetsTheRestOfThePath) {
  Router router;
  router
      .Prefix("/static/",
              [](Request& req, absl::string_view rest) {
                return Say(req.method + " static " + std::string(rest));
              })
      .Prefix("/static/img/",
              [](Request&, absl::string_view rest) {
                return Say("img " + std::string(rest));
              })
      .Get("/static/special", [](Request&) { return Say("exact"); });
  EXPECT_EQ(Body(router, "GET", "/static/style.css"),
            "200 GET static style.css");
  EXPECT_EQ(Body(router, "POST", "/static/x"), "200 POST static x");
  EXPECT_EQ(Body(router, "GET", "/static/img/a.png"), "200 img a.png");
  EXPECT_EQ(Body(router, "GET", "/static/"), "200 GET static ");
  // An exact route wins over a prefix; its other methods are 405.
  EXPECT_EQ(Body(router, "GET", "/static/special"), "200 exact");
  EXPECT_EQ(Body(router, "POST", "/static/special"),
            "405 method not allowed\n");
  EXPECT_EQ(Body(router, "GET", "/static"), "404 not found\n");
}

TEST(RouterTest, AddingAgainReplacesAndNotFoundCanBeChanged) {
  Router router;
  router.Get("/a", [](Request&) { return Say("one"); })
      .Get("/a", [](Request&) { return Say("two"); })
      .Prefix("/p/", [](Request&, absl::string_view) { return Say("p1"); })
      .Prefix("/p/", [](Request&, absl::string_view) { return Say("p2"); })
      .NotFound([](Request& req) {
        return Response::Text(404, "no " + req.path + "\n");
      });
  EXPECT_EQ(Body(router, "GET", "/a"), "200 two");
  EXPECT_EQ(Body(router, "GET", "/p/x"), "200 p2");
  EXPECT_EQ(Body(router, "GET", "/nope"), "404 no /nope\n");
}

TEST(RouterTest, AsHandlerRoutesThroughTheRouter) {
  Router router;
  router.Get("/x", [](Request&) { return Say("x"); });
  Handler h = router.AsHandler();
  Request req = Make("GET", "/x");
  EXPECT_EQ(h(req).body, "x");
}

}  // namespace
}  // namespace http
}  // namespace runtime
}  // namespace evergreen
