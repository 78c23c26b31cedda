-- wrk script: GET /users/{id} over ids 1..N, in order, per connection.
-- N is the IDS environment variable (default 1000): with 1000 ids a cache
-- hit finds its entry cold in the CPU caches, with 10 it finds it hot.
local ids = tonumber(os.getenv("IDS") or "1000")
local counter = 0
request = function()
  counter = counter % ids + 1
  return wrk.format("GET", "/users/" .. counter)
end
