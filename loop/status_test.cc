#include "loop/status.h"

#include <uv.h>

#include "gtest/gtest.h"

namespace evergreen {
namespace loop {
namespace {

TEST(UvStatusTest, OkForNonNegative) {
  EXPECT_TRUE(UvStatus(0, "op").ok());
  EXPECT_TRUE(UvStatus(7, "op").ok());
}

TEST(UvStatusTest, MessageNamesOperationErrorAndText) {
  absl::Status s = UvStatus(UV_EINVAL, "timer start");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "timer start: EINVAL (invalid argument)");
  EXPECT_EQ(UvStatus(UV_ECONNREFUSED, "connect 127.0.0.1:9").message(),
            "connect 127.0.0.1:9: ECONNREFUSED (connection refused)");
}

TEST(UvStatusTest, CodeMapping) {
  struct Case {
    int uv;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {UV_EINVAL, absl::StatusCode::kInvalidArgument},
      {UV_ECONNREFUSED, absl::StatusCode::kUnavailable},
      {UV_ENOENT, absl::StatusCode::kNotFound},
      {UV_ETIMEDOUT, absl::StatusCode::kDeadlineExceeded},
      {UV_ECANCELED, absl::StatusCode::kCancelled},
      {UV_EEXIST, absl::StatusCode::kAlreadyExists},
      {UV_EACCES, absl::StatusCode::kPermissionDenied},
      {UV_EOF, absl::StatusCode::kOutOfRange},
      {UV_EAI_NONAME, absl::StatusCode::kNotFound},
      {UV_EAI_AGAIN, absl::StatusCode::kUnavailable},
      {UV_EAI_CANCELED, absl::StatusCode::kCancelled},
      {UV_ECHARSET, absl::StatusCode::kUnknown},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(UvStatusCode(c.uv), c.code) << uv_err_name(c.uv);
    EXPECT_EQ(UvStatus(c.uv, "op").code(), c.code) << uv_err_name(c.uv);
  }
}

TEST(UvStatusTest, UnknownCodeDoesNotCrash) {
  absl::Status s = UvStatus(-3999, "op");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(s.message().substr(0, 4), "op: ");
}

TEST(UvStatusTest, EofMessage) {
  EXPECT_EQ(UvStatus(UV_EOF, "read").message(), "read: EOF (end of file)");
}

}  // namespace
}  // namespace loop
}  // namespace evergreen
