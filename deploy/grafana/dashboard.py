"""The bv Grafana dashboard, built with Grafana's Foundation SDK (PyPI `grafana-foundation-sdk`,
the types and builders Grafana generates from its own dashboard schema, here for Grafana 11.6).

This file is the source; deploy/grafana/bv.json is its output. Edit this file, then run
`scripts/monitoring.py render` (`make docs-check` fails when bv.json differs from what this
file builds, or when a query names a bv metric the code does not export).

Layout: the four golden signals (traffic, errors, latency, saturation) of each role (ingress,
create worker, biometric role, dispatcher), then the queues, the deliveries' detail, the face
engine and the pods' resources. Every query reads bv's own metrics, RabbitMQ's per-queue metrics
(`/metrics/detailed` or `/metrics/per-object` of the rabbitmq_prometheus plugin), or, for the
resources row, the kubelet's cAdvisor metrics.
"""

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.builders import stat
from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'
RATE = "$__rate_interval"
CREATE = 'route="/v2/biometric-validations", method="POST"'
# Queue names assume the default prefix `bv` (BV__AMQP__PREFIX).
BV_QUEUES = 'queue=~"bv\\\\..+"'
COMMAND_QUEUES = 'queue=~"bv\\\\.(biometric_validation\\\\.(create|validate)|delivery\\\\.redeliver)"'
DEAD_QUEUES = 'queue=~"bv\\\\..+\\\\.dead"'


def rabbit(metric: str, selector: str) -> str:
    """One series per queue from whichever RabbitMQ endpoint is scraped (as the recording
    rules of deploy/prometheus/rules.yaml do, but without needing them)."""
    return (
        f"max by (vhost, queue) (rabbitmq_detailed_{metric}{{{selector}}})"
        f" or max by (vhost, queue) (rabbitmq_{metric}{{{selector}}})"
    )


def quantiles(bucket: str, selector: str, by: str = "") -> list[tuple[str, str]]:
    """p50, p95 and p99 of a histogram, optionally per label(s)."""
    group = f"{by}, le" if by else "le"
    prefix = "{{" + by + "}} " if by else ""
    return [
        (
            f"histogram_quantile({q}, sum by ({group}) (rate({bucket}{{{selector}}}[{RATE}])))",
            f"{prefix}p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


def query(expr: str, legend: str, ref: str) -> prom.Dataquery:
    return prom.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def graph(
    title: str,
    description: str,
    targets: list[tuple[str, str]],
    unit: str = "short",
    width: int = 6,
    stacked: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .span(width)
        .height(8)
        .fill_opacity(10)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
        )
        .tooltip(
            common_builder.VizTooltipOptions()
            .mode(common.TooltipDisplayMode.MULTI)
            .sort(common.SortOrder.DESCENDING)
        )
    )
    if stacked:
        panel = panel.stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL))
    for i, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + i)))
    return panel


def single(title: str, description: str, expr: str, unit: str, red_above: float | None) -> stat.Panel:
    steps = [model.Threshold(value=None, color="green")]
    if red_above is not None:
        steps.append(model.Threshold(value=red_above, color="red"))
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(3)
        .height(4)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(
            dash.ThresholdsConfig()
            .mode(model.ThresholdsMode.ABSOLUTE)
            .steps(steps)
        )
        .with_target(query(expr, "", "A"))
    )


def overview(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Overview"))
    for panel in [
        single(
            "Creates /s",
            "POST /v2/biometric-validations per second, every answer.",
            f"sum(rate(bv_ingress_http_requests_total{{{NS}, {CREATE}}}[{RATE}]))",
            "reqps",
            None,
        ),
        single(
            "Creates answered 5xx",
            "Share of accepted-or-failed creates answered 5xx (alert BvCreatesUnavailable above 5%).",
            f'sum(rate(bv_ingress_http_requests_total{{{NS}, {CREATE}, status=~"5.."}}[{RATE}]))'
            f' / sum(rate(bv_ingress_http_requests_total{{{NS}, {CREATE}, status=~"2..|5.."}}[{RATE}]))',
            "percentunit",
            0.05,
        ),
        single(
            "Creates answered 202",
            "Share of accepted creates answered 202 instead of 201 (includes clients asking "
            "Prefer: respond-async; alert BvCreatesQueued).",
            f'sum(rate(bv_ingress_http_requests_total{{{NS}, {CREATE}, status="202"}}[{RATE}]))'
            f' / sum(rate(bv_ingress_http_requests_total{{{NS}, {CREATE}, status=~"201|202"}}[{RATE}]))',
            "percentunit",
            0.05,
        ),
        single(
            "Create queue (ready)",
            "Ready messages in bv.biometric_validation.create (RabbitMQ).",
            rabbit("queue_messages_ready", 'queue="bv.biometric_validation.create"'),
            "short",
            1000,
        ),
        single(
            "Validate queue (ready)",
            "Ready messages in bv.biometric_validation.validate (RabbitMQ).",
            rabbit("queue_messages_ready", 'queue="bv.biometric_validation.validate"'),
            "short",
            100,
        ),
        single(
            "Delivery backlog",
            "Pending deliveries (due now or waiting for a retry), as the dispatchers last counted.",
            f"max(bv_worker_delivery_backlog{{{NS}}})",
            "short",
            1000,
        ),
        single(
            "Dead-lettered (1h)",
            "Commands the workers sent to the dead-letter queues in the last hour.",
            f"sum(increase(bv_worker_dead_lettered_total{{{NS}}}[1h]))",
            "short",
            1,
        ),
        single(
            "bv alerts firing",
            "Alerts of deploy/prometheus/rules.yaml firing now (runbooks in docs/runbooks/).",
            'count(ALERTS{alertname=~"Bv.+", alertstate="firing"}) or vector(0)',
            "short",
            1,
        ),
    ]:
        d = d.with_panel(panel)
    return d


def ingress(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Ingress (bv-ingress)"))
    return (
        d.with_panel(
            graph(
                "Traffic: requests by route",
                "Requests per second by route and method (operational endpoints left out).",
                [
                    (
                        f"sum by (method, route) (rate(bv_ingress_http_requests_total{{{NS}, "
                        f'route!~"/metrics|/healthz|/readyz"}}[{RATE}]))',
                        "{{method}} {{route}}",
                    )
                ],
                "reqps",
            )
        )
        .with_panel(
            graph(
                "Errors: creates by result, 5xx by route",
                "Create requests by result (created 201, queued 202, rejected 4xx, unavailable "
                "503), and every 5xx answer by route.",
                [
                    (f"sum by (result) (rate(bv_ingress_creates_total{{{NS}}}[{RATE}]))", "create {{result}}"),
                    (
                        f'sum by (route, status) (rate(bv_ingress_http_requests_total{{{NS}, status=~"5.."}}[{RATE}]))',
                        "{{status}} {{route}}",
                    ),
                ],
                "reqps",
            )
        )
        .with_panel(
            graph(
                "Latency: creates, and the wait for the worker",
                "POST /v2/biometric-validations latency, and the wait from the broker's confirm "
                "to the worker's answer (answered) or to ingress.reply_timeout (queued: 202).",
                quantiles("bv_ingress_http_request_duration_seconds_bucket", f"{NS}, {CREATE}")
                + [
                    (
                        "histogram_quantile(0.95, sum by (result, le) "
                        f"(rate(bv_ingress_reply_wait_seconds_bucket{{{NS}}}[{RATE}])))",
                        "reply wait {{result}} p95",
                    )
                ],
                "s",
            )
        )
        .with_panel(
            graph(
                "Saturation: refused by limits, 202 fallbacks",
                "Requests refused by a rate limit (session, ip, client: 429) or shed because "
                "every validate slot was busy (in_flight: 503), and waits for the worker that ran "
                "out (202).",
                [
                    (f"sum by (scope) (rate(bv_ingress_rate_limited_total{{{NS}}}[{RATE}]))", "limited {{scope}}"),
                    (
                        f'sum(rate(bv_ingress_reply_wait_seconds_count{{{NS}, result="queued"}}[{RATE}]))',
                        "waits ran out (202)",
                    ),
                ],
                "reqps",
            )
        )
    )


def create_worker(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Create worker (bv-worker)"))
    return (
        d.with_panel(
            graph(
                "Traffic: create commands by outcome",
                "Create commands processed per second: created, replayed (idempotent redelivery "
                "or retry) and rejected by a rule.",
                [(f"sum by (outcome) (rate(bv_worker_commands_total{{{NS}}}[{RATE}]))", "{{outcome}}")],
                "ops",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Errors: dead letters, database",
                "Commands dead-lettered (all roles), commands returned to the queue after the "
                "database stayed unavailable, failed batch commits.",
                [
                    (f"sum(rate(bv_worker_dead_lettered_total{{{NS}}}[{RATE}]))", "dead-lettered"),
                    (f"sum(rate(bv_worker_requeued_total{{{NS}}}[{RATE}]))", "requeued"),
                    (f"sum(rate(bv_worker_db_errors_total{{{NS}}}[{RATE}]))", "failed commits"),
                ],
                "ops",
            )
        )
        .with_panel(
            graph(
                "Latency: one batch's transaction",
                "Time to persist one batch of create commands (validations and outbox rows) in one "
                "transaction.",
                quantiles("bv_worker_batch_commit_seconds_bucket", NS),
                "s",
            )
        )
        .with_panel(
            graph(
                "Saturation: create queue",
                "bv.biometric_validation.create: ready (waiting for a worker; KEDA scales on it, "
                "500 per replica), unacknowledged (prefetched by workers), consumers.",
                [
                    (rabbit("queue_messages_ready", 'queue="bv.biometric_validation.create"'), "ready"),
                    (rabbit("queue_messages_unacked", 'queue="bv.biometric_validation.create"'), "unacked"),
                    (rabbit("queue_consumers", 'queue="bv.biometric_validation.create"'), "consumers"),
                ],
            )
        )
    )


def biometric_role(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Biometric role (bv-worker-biometrics)"))
    return (
        d.with_panel(
            graph(
                "Traffic: biometric commands",
                "Challenge, validate and delete-person commands per second, by outcome.",
                [
                    (
                        f"sum by (command, outcome) (rate(bv_worker_biometric_commands_total{{{NS}}}[{RATE}]))",
                        "{{command}} {{outcome}}",
                    )
                ],
                "ops",
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Errors: commands not decided",
                "Biometric commands rejected (the end user's error, answered), unavailable "
                "(database) or refused (kept stopping their workers: dead-lettered).",
                [
                    (
                        "sum by (command, outcome) (rate(bv_worker_biometric_commands_total"
                        f'{{{NS}, outcome=~"rejected|unavailable|refused"}}[{RATE}]))',
                        "{{command}} {{outcome}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            graph(
                "Latency: one validate command",
                "Decoding, engine and transaction of one validate command.",
                quantiles("bv_worker_validate_duration_seconds_bucket", NS),
                "s",
            )
        )
        .with_panel(
            graph(
                "Saturation: validate queue",
                "bv.biometric_validation.validate: ready (KEDA scales on it, 20 per pod), "
                "unacknowledged (one per consumer, prefetch 1), consumers.",
                [
                    (rabbit("queue_messages_ready", 'queue="bv.biometric_validation.validate"'), "ready"),
                    (rabbit("queue_messages_unacked", 'queue="bv.biometric_validation.validate"'), "unacked"),
                    (rabbit("queue_consumers", 'queue="bv.biometric_validation.validate"'), "consumers"),
                ],
            )
        )
    )


def dispatcher(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Dispatcher (emails and webhooks)"))
    return (
        d.with_panel(
            graph(
                "Traffic: delivery attempts",
                "Email and webhook attempts per second by outcome (succeeded, retry: failed and "
                "scheduled again, failed: gave up).",
                [
                    (
                        f"sum by (channel, outcome) (rate(bv_worker_delivery_attempts_total{{{NS}}}[{RATE}]))",
                        "{{channel}} {{outcome}}",
                    )
                ],
                "ops",
            )
        )
        .with_panel(
            graph(
                "Errors: share of attempts failing",
                "Attempts that failed (retry or gave up) out of all, per channel (alert "
                "BvDeliveryAttemptsFailing above 50%).",
                [
                    (
                        "sum by (channel) (rate(bv_worker_delivery_attempts_total"
                        f'{{{NS}, outcome=~"retry|failed"}}[{RATE}])) / sum by (channel) '
                        f"(rate(bv_worker_delivery_attempts_total{{{NS}}}[{RATE}]))",
                        "{{channel}}",
                    )
                ],
                "percentunit",
            )
        )
        .with_panel(
            graph(
                "Latency: one attempt",
                "One HTTP request or SMTP transaction (bounded by delivery.timeout).",
                quantiles("bv_worker_delivery_attempt_duration_seconds_bucket", NS, "channel"),
                "s",
            )
        )
        .with_panel(
            graph(
                "Saturation: delivery backlog",
                "Pending deliveries, due now or scheduled for a retry (refreshed every 5 s by "
                "dispatching workers; others report 0).",
                [(f"max(bv_worker_delivery_backlog{{{NS}}})", "pending")],
            )
        )
    )


def queues(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Queues (RabbitMQ)"))
    return (
        d.with_panel(
            graph(
                "Ready messages",
                "Messages waiting for a consumer, per bv queue.",
                [(rabbit("queue_messages_ready", BV_QUEUES), "{{queue}}")],
            )
        )
        .with_panel(
            graph(
                "Unacknowledged messages",
                "Messages delivered to a consumer and not yet acknowledged, per bv queue.",
                [(rabbit("queue_messages_unacked", BV_QUEUES), "{{queue}}")],
            )
        )
        .with_panel(
            graph(
                "Consumers",
                "Consumers per command queue (alert BvQueueWithoutConsumers at 0).",
                [(rabbit("queue_consumers", COMMAND_QUEUES), "{{queue}}")],
            )
        )
        .with_panel(
            graph(
                "Dead-letter queues",
                "Messages in the *.dead queues (bounded by amqp.dead_letter_max_length and "
                "amqp.dead_letter_ttl); see docs/runbooks/dead-letters.md.",
                [(rabbit("queue_messages", DEAD_QUEUES), "{{queue}}")],
            )
        )
    )


def face_engine(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Face engine"))
    return (
        d.with_panel(
            graph(
                "Engine latency per attempt",
                "The engine's part of one attempt (decoding, detection, embedding, liveness, "
                "match), per engine (alert BvEngineSlow: p95 above 2 s).",
                quantiles("bv_worker_engine_duration_seconds_bucket", NS, "engine"),
                "s",
                width=8,
            )
        )
        .with_panel(
            graph(
                "Decisions",
                "Decided attempts per second: passes (reason none) and one count per reason of "
                "each failure.",
                [
                    (
                        f"sum by (decision, reason) (rate(bv_worker_decisions_total{{{NS}}}[{RATE}]))",
                        "{{decision}} {{reason}}",
                    )
                ],
                "ops",
                width=8,
                stacked=True,
            )
        )
        .with_panel(
            graph(
                "Share of attempts failing",
                "Failed attempts out of decided ones (an attempt may fail for several reasons; "
                "it counts once here).",
                [
                    (
                        f'sum(rate(bv_worker_decisions_total{{{NS}, decision="fail"}}[{RATE}]))'
                        f' / (sum(rate(bv_worker_decisions_total{{{NS}, decision="fail"}}[{RATE}]))'
                        f' + sum(rate(bv_worker_decisions_total{{{NS}, decision="pass"}}[{RATE}])))',
                        "failing",
                    )
                ],
                "percentunit",
                width=8,
            )
        )
    )


def resources(d: dash.Dashboard) -> dash.Dashboard:
    d = d.with_row(dash.Row("Pods (cAdvisor)"))
    pods = f'{NS}, pod=~"bv-.+", container!="", container!="POD"'
    return d.with_panel(
        graph(
            "CPU by pod",
            "Cores used per pod (the kubelet's cAdvisor metrics). The biometric role's pods "
            "request one core each.",
            [(f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[{RATE}]))", "{{pod}}")],
            "short",
            width=12,
        )
    ).with_panel(
        graph(
            "Memory by pod",
            "Working set per pod (the kubelet's cAdvisor metrics), against the manifests' limits.",
            [(f"sum by (pod) (container_memory_working_set_bytes{{{pods}}})", "{{pod}}")],
            "bytes",
            width=12,
        )
    )


def build() -> dict:
    d = (
        dash.Dashboard("Biometric validations (bv)")
        .uid("bv-overview")
        .description(
            "Golden signals of bv's roles (ingress, create worker, biometric role, dispatcher), its "
            "queues, deliveries and face engine. Generated by deploy/grafana/dashboard.py."
        )
        .tags(["bv", "biometric-validations"])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .with_variable(
            dash.DatasourceVariable("datasource").label("Prometheus").type("prometheus")
        )
        .with_variable(
            dash.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DATASOURCE)
            .query("label_values(bv_worker_commands_total, namespace)")
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .include_all(True)
            .all_value(".*")
            .multi(True)
        )
    )
    for section in (overview, ingress, create_worker, biometric_role, dispatcher, queues, face_engine, resources):
        d = section(d)
    built = d.build()
    # Stable panel ids (Grafana links to a panel by id).
    for number, panel in enumerate(built.panels or [], start=1):
        panel.id_val = number
    return built.to_json()
