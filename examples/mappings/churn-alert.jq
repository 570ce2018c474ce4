# examples/mappings/churn-alert.jq - a churn-risk alert per customer, for the
# notification tools (Slack, Microsoft Teams, PagerDuty): the message is a
# template over the row.  "resolved_text" is what the channel is told
# when the customer leaves the model (mirror mode); "severity" is
# PagerDuty's (Slack and Teams send only the text).
{
  id,
  text: "Churn risk \(.churn_risk * 100 | round)%: \(.first_name) <\(.email)> on \(.plan)",
  resolved_text: "No longer at risk: \(.first_name) <\(.email)>",
  severity: (if .churn_risk > 0.9 then "critical" else "warning" end)
}
