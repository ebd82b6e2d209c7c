"""External repositories of evergreen, for this workspace and for consumers.

A consumer's WORKSPACE:

    local_repository(name = "evergreen", path = "/path/to/evergreen")
    load("@evergreen//:deps.bzl", "evergreen_dependencies")
    evergreen_dependencies()

and then `deps = ["@evergreen//fibers"]` in its BUILD files.

Everything comes from Debian packages (./bazelw installs them): the system
libraries are `new_local_repository`s over /usr, and the rules Bazel 4.2.3
would otherwise download (rules_cc, remote_coverage_tools) are replaced by
small local stand-ins. A repository the consumer already declared is kept.
"""

def _rules_cc_standin_impl(repository_ctx):
    # Debian's bazel-rules-cc is too new for Bazel 4.2.3; the native rules are
    # all that is needed.
    repository_ctx.file("WORKSPACE", 'workspace(name = "rules_cc")\n')
    repository_ctx.file("BUILD", "")
    repository_ctx.file("cc/BUILD", "")
    repository_ctx.file("cc/defs.bzl", """\
cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_proto_library = native.cc_proto_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
fdo_prefetch_hints = native.fdo_prefetch_hints
fdo_profile = native.fdo_profile
objc_library = native.objc_library
""")

_rules_cc_standin = repository_rule(implementation = _rules_cc_standin_impl)

def _coverage_tools_standin_impl(repository_ctx):
    # `bazel test` needs these targets to exist; `bazel coverage` is not
    # available offline.
    repository_ctx.file("WORKSPACE", 'workspace(name = "remote_coverage_tools")\n')
    repository_ctx.file("unavailable.sh", """\
#!/bin/sh
echo "coverage tools are not available offline" >&2
exit 1
""", executable = True)
    repository_ctx.file("BUILD", """\
package(default_visibility = ["//visibility:public"])

sh_binary(name = "coverage_report_generator", srcs = ["unavailable.sh"])

sh_binary(name = "lcov_merger", srcs = ["unavailable.sh"])

filegroup(name = "coverage_output_generator", srcs = ["unavailable.sh"])
""")

_coverage_tools_standin = repository_rule(implementation = _coverage_tools_standin_impl)

# name -> (path, BUILD file in //third_party)
_SYSTEM_LIBRARIES = {
    "system_absl": ("/usr", "absl.BUILD"),
    "system_libuv": ("/usr", "libuv.BUILD"),
    "system_gtest": ("/usr", "gtest.BUILD"),
    "system_benchmark": ("/usr", "benchmark.BUILD"),
    "system_boost": ("/usr", "boost.BUILD"),
    "system_boringssl": ("/usr", "boringssl.BUILD"),
    "system_python3": ("/usr/include/python3.11", "python3.BUILD"),
    "system_http_parser": ("/usr", "http_parser.BUILD"),
}

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def evergreen_dependencies():
    """Declares the repositories evergreen's targets depend on."""
    _maybe(_rules_cc_standin, "rules_cc")
    _maybe(
        native.local_repository,
        "rules_java",
        path = "/usr/share/bazel/rules/java",
    )
    _maybe(
        native.local_repository,
        "platforms",
        path = "/usr/share/bazel/platforms",
    )
    _maybe(_coverage_tools_standin, "remote_coverage_tools")
    for name, (path, build_file) in _SYSTEM_LIBRARIES.items():
        _maybe(
            native.new_local_repository,
            name,
            path = path,
            build_file = "@evergreen//third_party:" + build_file,
        )
