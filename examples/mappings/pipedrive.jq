# examples/mappings/pipedrive.jq - the customer model as Pipedrive persons.
# Pipedrive finds a person by e-mail the first time (an exact search), by
# its own id from then on.  Custom fields go by their API key (Settings ->
# Data fields: the field's "API key", a 40-character hash).  _rx_id is
# the sync key, for rx alone: members starting with "_" are not sent.
{
  _rx_id: .id,
  name: "\(.first_name) \(.last_name)",
  email,
  phone,
  custom_fields: {plan}
}
