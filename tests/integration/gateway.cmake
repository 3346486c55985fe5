# The HTTP gateway end to end with libcurl: a broker and test actors in-process, slow_actor as
# a process (killed mid-request), the gateway on a free port.
yard_add_test(NAME test_gateway SOURCES test_gateway.c
              LIBS yard_gateway yard_broker PkgConfig::CURL PkgConfig::MSGPACK
              LABELS integration TIMEOUT 120)
add_dependencies(test_gateway slow_actor)
# Rate limits (per IP, per token, shared through Redis), OVERLOADED, SO_REUSEPORT and `yard up`
# serving HTTP; it runs bin/yard, so building the test builds it.
yard_add_test(NAME test_gateway_limits SOURCES test_gateway_limits.c
              LIBS yard_gateway yard_broker PkgConfig::CURL LABELS integration TIMEOUT 120)
add_dependencies(test_gateway_limits yard_cli)
# HTTP framing (smuggling shapes answered 400/501 and closed) and the header deadline (408),
# with raw sockets against yard-gateway as a process.
yard_add_test(NAME test_gateway_framing SOURCES test_gateway_framing.c LABELS integration
              TIMEOUT 60)
add_dependencies(test_gateway_framing yard-gateway)
# The gateway's semantics from outside (issue 11): default route closed unless configured and
# then authed, 405 + Allow, CONFLICT 409, Content-Type (415, msgpack through), bad paths 400,
# methods, the shared bearer limit, --listen (runs bin/yard-gateway).
yard_add_test(NAME test_gateway_security SOURCES test_gateway_security.c
              LIBS yard_gateway yard_broker PkgConfig::CURL PkgConfig::MSGPACK
              LABELS integration TIMEOUT 120)
add_dependencies(test_gateway_security yard-gateway)
# HTTPS (tls_cert, tls_key) with a certificate the openssl command makes at test time (skipped
# without it) and libcurl as the client; config errors through yard-gateway as a process.
yard_add_test(NAME test_gateway_tls SOURCES test_gateway_tls.c
              LIBS yard_gateway PkgConfig::CURL PkgConfig::GNUTLS LABELS integration TIMEOUT 60)
add_dependencies(test_gateway_tls yard-gateway)
