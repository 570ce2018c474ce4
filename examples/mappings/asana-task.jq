# examples/mappings/asana-task.jq - a follow-up task per customer at risk
# of churning (examples/models/churn_audience.sql): Asana task fields
# (name, notes, completed); "id" is the sync's key (the task's external
# gid), not a task field, and is not sent.
{
  id,
  name: "Call \(.first_name): churn risk \(.churn_risk * 100 | round)%",
  notes: "E-mail: \(.email)\nPlan: \(.plan)",
  completed: false
}
