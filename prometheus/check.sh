#!/usr/bin/env bash
# Static checks of the Prometheus and Alertmanager setup: config and rule syntax, then the
# alert unit tests. Needs promtool (Debian: prometheus); amtool is used when installed.
set -euo pipefail
cd "$(dirname "$0")"
promtool check config prometheus.yml
promtool check rules rules/*.yml
promtool test rules tests/*.test.yml
if command -v amtool >/dev/null; then
  amtool check-config alertmanager.yml
  # Severity routing: critical pages, warning opens a ticket.
  amtool config routes test --config.file=alertmanager.yml --verify.receivers=page severity=critical >/dev/null
  amtool config routes test --config.file=alertmanager.yml --verify.receivers=ticket severity=warning >/dev/null
  echo "alertmanager routing: critical -> page, warning -> ticket"
  # SLO burn rates: both pages page, both tickets open a ticket.
  for alert in FlashsaleErrorBudgetFastBurn FlashsaleErrorBudgetHighBurn; do
    amtool config routes test --config.file=alertmanager.yml --verify.receivers=page alertname=$alert slo=checkout-availability severity=critical >/dev/null
  done
  for alert in FlashsaleErrorBudgetSteadyBurn FlashsaleErrorBudgetSlowBurn; do
    amtool config routes test --config.file=alertmanager.yml --verify.receivers=ticket alertname=$alert slo=purchase-latency severity=warning >/dev/null
  done
  echo "alertmanager routing: SLO fast and high burns -> page, steady and slow burns -> ticket"
else
  echo "amtool not installed (Debian: prometheus-alertmanager); skipped alertmanager.yml check"
fi
