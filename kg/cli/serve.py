"""acr-kg serve: the CDS Hooks service (order-select, order-sign) over HTTP, with uvicorn."""
from __future__ import annotations

from pathlib import Path

import click

from kg.cli.options import thresholds_option
from kg.errors import UsageError


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Put a TLS proxy in front for anything but this machine.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--trust", "trust", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help='JSON file of the EHRs allowed to call: {"issuers": {ISSUER: JWK set}}.')
@click.option("--public-url", default=None, metavar="URL",
              help="Base URL the EHR calls (https://cds.example.org); JWT audiences are checked against it. "
                   "Default: http://HOST:PORT of --host and --port; required behind a proxy or on a wildcard address.")
@click.option("--insecure-no-auth", is_flag=True,
              help="DEVELOPMENT ONLY: accept calls without a verified JWT.")
@click.option("--database", type=click.Path(dir_okay=False, path_type=Path), default=Path("acr-kg-cds.sqlite3"),
              show_default=True, help="SQLite file of the consultations and the feedback.")
@click.option("--gcode", default="", help="CMS G-code of a qualified CDS mechanism for the pama-rating (legacy); none by default.")
@click.option("--extension-system-actions", is_flag=True,
              help="Also put the rating actions in extension.systemActions, as the 2019 PAMA material does.")
@click.option("--max-body-bytes", type=click.IntRange(1024), default=5 * 1024 * 1024, show_default=True)
@click.option("--concurrent-calls", type=click.IntRange(1), default=2, show_default=True,
              help="Hook calls evaluated at once; the others wait their turn.")
@click.option("--max-waiting-calls", type=click.IntRange(0), default=16, show_default=True,
              help="Hook calls that may wait for their turn; one more gets 503 with Retry-After at once.")
@click.option("--query-threads", type=click.IntRange(1), default=1, show_default=True,
              help="Threads one call may use for its independent queries: more answers a lone call sooner, "
                   "fewer leaves the cores to the calls evaluated at once.")
@thresholds_option
def command(host, port, trust, public_url, insecure_no_auth, database, gcode, extension_system_actions,
            max_body_bytes, concurrent_calls, max_waiting_calls, query_threads, thresholds):
    """Serve imaging appropriateness as CDS Hooks: GET /cds-services, POST /cds-services/{id},
    POST /cds-services/{id}/feedback."""
    import uvicorn

    from kg.cds.app import create_app
    from kg.cds.settings import Settings, read_issuers

    if trust is None and not insecure_no_auth:
        raise UsageError("give --trust FILE with the JWK sets of the EHRs allowed to call, "
                         "or --insecure-no-auth for development")
    if insecure_no_auth:
        click.secho("WARNING: JWT verification is OFF (--insecure-no-auth): any caller is trusted. "
                    "Development only; never with real patient data.", fg="red", bold=True, err=True)
    if public_url is None and not insecure_no_auth:
        public_url = bound_url(host, port)
        click.echo(f"JWT audiences are checked against {public_url}/cds-services/...; give --public-url if the EHR "
                   "calls another address", err=True)
    settings = Settings(issuers=read_issuers(trust) if trust else {}, verify_jwt=not insecure_no_auth,
                        public_url=public_url, database=database, gcode=gcode,
                        extension_system_actions=extension_system_actions, max_body_bytes=max_body_bytes,
                        concurrent_calls=concurrent_calls, max_waiting_calls=max_waiting_calls, query_threads=query_threads,
                        thresholds=thresholds)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def bound_url(host: str, port: int) -> str:
    """http://HOST:PORT of the address the server listens on, the default public URL. A wildcard address or
    port 0 names no address an EHR calls, so these need --public-url."""
    if host in ("", "0.0.0.0", "::") or port == 0:
        raise UsageError(f"--host {host or repr(host)} --port {port} is no address an EHR calls: give --public-url "
                         "with the URL it does call, which JWT audiences are checked against")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
