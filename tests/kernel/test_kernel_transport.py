"""TLS verification and server failures, seen from the real kernel."""

from __future__ import annotations

from kernel_helpers import StubServer, TLSProxy


def test_tls_verified_by_default_and_switchable(site, site_kernel, tmp_path):
    proxy = TLSProxy(site.url, tmp_path)
    try:
        kernel = site_kernel("kernel-tls", ERP5_URL=proxy.url)
        refused = kernel.run("1 + 1")
        assert refused.error["ename"] == "ERP5TLSError"
        assert "CERTIFICATE_VERIFY_FAILED" in refused.error["evalue"]
        assert "%erp5_verify_tls off" in refused.error["evalue"]
        assert kernel.run(f"%erp5_verify_tls {proxy.cert}").status == "ok"
        assert kernel.run("1 + 1").result == "2"
        assert kernel.run("%erp5_verify_tls on").error["ename"] == "ERP5TLSError"
        off = kernel.run("%erp5_verify_tls off")
        assert "off (unsafe)" in off.stream() and off.status == "ok"
        assert kernel.run("2 + 2").result == "4"
        from_env = site_kernel("kernel-tls-env", ERP5_URL=proxy.url, ERP5_VERIFY_TLS="off")
        assert from_env.run("3 + 3").result == "6"
    finally:
        proxy.close()


def test_server_errors_and_odd_answers_are_explained(site_kernel):
    crashing = StubServer(500, "<html><body><h1>Site Error</h1><p>boom 1234</p></body></html>")
    not_json = StubServer(200, "<html>a login form</html>")
    missing = StubServer(404, "")
    try:
        error = site_kernel("kernel-5xx", ERP5_URL=crashing.url).run("1").error
        assert error["ename"] == "ERP5ServerError"
        assert "HTTP 500" in error["evalue"] and "Site Error boom 1234" in error["evalue"]
        odd = site_kernel("kernel-odd", ERP5_URL=not_json.url).run("1").error
        assert odd["ename"] == "ERP5ServerError" and "not JSON" in odd["evalue"]
        assert "a login form" in odd["evalue"]
        absent = site_kernel("kernel-404", ERP5_URL=missing.url).run("1").error
        assert absent["ename"] == "ERP5RequestError"
        assert "404" in absent["evalue"] and "Wendelin or ERP5 site" in absent["evalue"]
    finally:
        for stub in (crashing, not_json, missing):
            stub.close()
