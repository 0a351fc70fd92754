-- Argo CD health of an inventory.slotsync.io SyncSchedule. It reads the
-- conditions kstatus (Flux) reads, so both tools agree: Stalled needs a human,
-- Reconciling means no run of the current spec has succeeded yet (or a failed
-- run is retried), and a status older than the spec says nothing yet.
local hs = { status = "Progressing", message = "waiting for the controller to observe the schedule" }
if obj.status == nil or obj.status.observedGeneration ~= obj.metadata.generation then
  return hs
end
local cond = {}
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    cond[c.type] = c
  end
end
local function isTrue(t)
  return cond[t] ~= nil and cond[t].status == "True"
end
if isTrue("Stalled") then
  return { status = "Degraded", message = cond.Stalled.reason .. ": " .. cond.Stalled.message }
end
if isTrue("Paused") then
  return { status = "Suspended", message = cond.Paused.message }
end
if isTrue("Reconciling") then
  return { status = "Progressing", message = cond.Reconciling.message }
end
if isTrue("Ready") then
  return { status = "Healthy", message = cond.Ready.message }
end
if cond.Ready ~= nil then
  hs.message = cond.Ready.message
end
return hs
