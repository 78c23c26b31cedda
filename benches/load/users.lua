-- wrk script: GET /users/{id} over ids 1..1000, in order, per connection.
local counter = 0
request = function()
  counter = counter % 1000 + 1
  return wrk.format("GET", "/users/" .. counter)
end
