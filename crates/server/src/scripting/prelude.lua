-- The Lua side of Redis's scripting API, loaded once per worker VM (chunk name "=redis_api",
-- which the error handler skips when it looks for the script's line). `rx` holds the Rust
-- primitives; `dbg` is the debug library, kept here and removed from the globals.
local rx, dbg, G = ...
local error, type, tostring, rawget, rawset, setmetatable, getmetatable, select, pairs =
    error, type, tostring, rawget, rawset, setmetatable, getmetatable, select, pairs
local sub, find, gsub = string.sub, string.find, string.gsub
local lpcall, loadstring, load, setfenv = pcall, loadstring, load, setfenv

-- Redis's luaPushErrorBuff: "-CODE msg" or "msg" becomes {err = "CODE msg"}.
local function errtable(buf)
    local code, msg
    if sub(buf, 1, 1) == '-' then
        local sp = find(buf, ' ', 1, true)
        if sp then
            code, msg = sub(buf, 2, sp - 1), sub(buf, sp + 1)
        else
            code, msg = 'ERR', sub(buf, 2)
        end
    else
        code, msg = 'ERR', buf
    end
    msg = gsub(gsub(msg, '^[\r\n]+', ''), '[\r\n]+$', '')
    return { err = code .. ' ' .. msg }
end

local function raise(msg)
    error(errtable(msg))
end

local readonly_error = function()
    error('Attempt to modify a readonly table', 2)
end

-- Tables a script sees are read-only views (Redis marks them read-only in its patched VM).
local protected = setmetatable({}, { __mode = 'k' })
local ro_meta = setmetatable({}, { __newindex = readonly_error })
protected[ro_meta] = true
local function roproxy(t)
    local p = setmetatable({}, { __index = t, __newindex = readonly_error, __metatable = ro_meta })
    protected[p] = true
    return p
end

-- redis.call and redis.pcall are Rust functions set by each run (C functions, as in Redis, so
-- a `return redis.call(...)` keeps the script's frame for the error's line number).
local redis = {}
redis.sha1hex = function(...)
    if select('#', ...) ~= 1 then
        raise('wrong number of arguments')
    end
    return rx.sha1hex(...)
end
redis.error_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then
        return errtable('wrong number or type of arguments')
    end
    if sub(s, 1, 1) ~= '-' then
        s = '-' .. s
    end
    return errtable(s)
end
redis.status_reply = function(...)
    local s = ...
    if select('#', ...) ~= 1 or type(s) ~= 'string' then
        return errtable('wrong number or type of arguments')
    end
    return { ok = s }
end
redis.log = function(...)
    local n = select('#', ...)
    local level = ...
    if n < 2 then
        raise('redis.log() requires two arguments or more.')
    elseif type(level) ~= 'number' and not (type(level) == 'string' and tonumber(level)) then
        raise('First argument must be a number (log level).')
    end
    level = tonumber(level)
    if level < 0 or level > 3 then
        raise('Invalid debug level.')
    end
    rx.log(...)
end
redis.setresp = function(...)
    if select('#', ...) ~= 1 then
        raise('redis.setresp() requires one argument.')
    end
    local v = tonumber((...)) or 0
    if v ~= 2 and v ~= 3 then
        raise('RESP version must be 2 or 3.')
    end
    rx.setresp(v)
end
redis.set_repl = function(...)
    if select('#', ...) ~= 1 then
        raise('redis.set_repl() requires two arguments.')
    end
    local flags = tonumber((...)) or 0
    if flags ~= 0 and flags ~= 1 and flags ~= 2 and flags ~= 3 then
        raise('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.')
    end
    rx.set_repl(flags)
end
redis.replicate_commands = function()
    return true
end
-- The Lua debugger's (scripting/ldb.rs): C functions, as in Redis, so they add no lines of
-- their own for its line hook to stop at.
redis.breakpoint = rx.breakpoint
redis.debug = rx.debug
redis.acl_check_cmd = function(...)
    if select('#', ...) == 0 then
        raise('Please specify at least one argument for this redis lib call')
    end
    -- (error text or nil, whether the command exists, whether the caller's user may run it)
    local err, known, allowed = rx.acl_check(...)
    if err then
        raise(err)
    end
    if not known then
        raise('Invalid command passed to redis.acl_check_cmd()')
    end
    return allowed
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.REDIS_VERSION = rx.version
redis.REDIS_VERSION_NUM = rx.version_num

-- Redis's pcall: an error table with a string `err` is returned as that string.
local function pcall_result(ok, ...)
    if ok then
        return ok, ...
    end
    local e = ...
    if type(e) == 'userdata' then
        local s, where = rx.errtext(e)
        -- Caught right where a library function raised it: luaL_error's position would be
        -- pcall's own (a C function), i.e. none.
        if s then
            return false, s
        end
    end
    if type(e) == 'table' then
        local s = rawget(e, 'err')
        if type(s) == 'string' or type(s) == 'number' then
            return false, s
        end
    end
    return false, e
end

-- The environment scripts run in: the allowed globals (library tables as read-only views),
-- KEYS and ARGV of the running script, and errors for anything else.
-- A read-only view whose missing fields raise as missing globals do (luaSetErrorMetatable).
local function strict_proxy(t)
    local p = setmetatable({}, {
        __index = function(_, k)
            local v = t[k]
            if v == nil then
                error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
            end
            return v
        end,
        __newindex = readonly_error,
        __metatable = ro_meta,
    })
    protected[p] = true
    return p
end

local exposed = {}
local env = strict_proxy(exposed)

local allowed = {
    'xpcall', 'tostring', 'getfenv', 'next', 'assert', 'tonumber', 'rawequal', 'collectgarbage',
    'rawget', 'coroutine', 'type', 'select', 'unpack', 'gcinfo', 'pairs', 'ipairs', '_VERSION',
    'setfenv', 'error', 'newproxy', 'string', 'math', 'table',
}
for _, name in pairs(allowed) do
    local v = rawget(G, name)
    if type(v) == 'table' then
        v = roproxy(v)
    end
    exposed[name] = v
end
exposed._G = env
exposed.redis = roproxy(redis)
exposed.bit = roproxy(rx.bit)
exposed.cjson = roproxy(rx.cjson)
exposed.cmsgpack = roproxy(rx.cmsgpack)
exposed.struct = roproxy(rx.struct)
exposed.pcall = function(...)
    return pcall_result(lpcall(...))
end
exposed.setmetatable = function(t, m)
    if protected[t] then
        error('Attempt to modify a readonly table', 2)
    end
    return setmetatable(t, m)
end
exposed.getmetatable = getmetatable
exposed.rawset = function(t, k, v)
    if protected[t] then
        error('Attempt to modify a readonly table', 2)
    end
    return rawset(t, k, v)
end
-- Binary chunks are refused (Redis's patched loader); loaded code runs in the script env.
exposed.loadstring = function(s, name)
    if type(s) == 'string' and sub(s, 1, 1) == '\27' then
        return nil, 'binary chunks are not allowed'
    end
    local f, e = loadstring(s, name)
    if f then
        setfenv(f, env)
    end
    return f, e
end
exposed.load = function(f, name)
    local g, e = load(f, name)
    if g then
        setfenv(g, env)
    end
    return g, e
end
protected[exposed] = true

-- The error handler Redis installs: the error as a table with the script's source and line.
local function handler(err)
    local level = 2
    local i = dbg.getinfo(level, 'nSl')
    while i and (i.what == 'C' or i.source == '=redis_api') and level < 100 do
        level = level + 1
        i = dbg.getinfo(level, 'nSl')
    end
    if type(err) == 'userdata' then
        local s, where, counted = rx.errtext(err)
        if s and where then
            if s == 'Script killed by user with SCRIPT KILL...' then
                err = { err = 'ERR ' .. s }
            elseif i then
                err = { err = 'ERR ' .. i.short_src .. ':' .. tostring(i.currentline) .. ': ' .. s }
            else
                err = { err = 'ERR ' .. s }
            end
        elseif s then
            err = { err = s }
            if counted then
                err['ignore_error_stats_update'] = true
            end
        end
    end
    if type(err) ~= 'table' then
        err = { err = 'ERR ' .. tostring(err) }
    end
    if i then
        err['source'] = i.source
        err['line'] = i.currentline
    end
    return err
end

local xpcall, unpack = xpcall, unpack
-- Runs `f` under the error handler; the arguments (a function's KEYS and ARGV) are passed on,
-- which Lua 5.1's xpcall cannot do itself.
local function run(f, ...)
    local n = select('#', ...)
    if n == 0 then
        return xpcall(f, handler)
    end
    local args = { ... }
    return xpcall(function()
        return f(unpack(args, 1, n))
    end, handler)
end

-- Functions (FUNCTION LOAD, Redis's function_lua.c). A library's code runs once with only the
-- load API as its globals (`redis` holding register_function, log and the version and log
-- constants); the callbacks it registers later run with the scripts' globals. One environment
-- table serves both, its lookup chosen by whether a load is under way (`loading`).
local lower = string.lower
local loading = nil -- { list = registrations in order, names = lower-cased names seen }


local flag_bits = {
    ['no-writes'] = 1,
    ['allow-oom'] = 2,
    ['allow-stale'] = 4,
    ['no-cluster'] = 8,
    ['allow-cross-slot-keys'] = 16,
}

local function is_string(v)
    return type(v) == 'string' or type(v) == 'number'
end

local function read_flags(t)
    local bits, j = 0, 1
    while true do
        local f = t[j]
        if f == nil then
            return bits
        end
        local b = is_string(f) and flag_bits[lower(tostring(f))]
        if not b then
            raise('unknown flag given')
        end
        if bits % (2 * b) < b then
            bits = bits + b
        end
        j = j + 1
    end
end

local load_redis = {}
load_redis.register_function = function(...)
    if not loading then
        raise('redis.register_function can only be called on FUNCTION LOAD command')
    end
    local n = select('#', ...)
    if n < 1 or n > 2 then
        raise('wrong number of arguments to redis.register_function')
    end
    local name, callback, flags, desc
    if n == 1 then
        local t = ...
        if type(t) ~= 'table' then
            raise('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
        end
        for k, v in pairs(t) do
            if not is_string(k) then
                raise('named argument key given to redis.register_function is not a string')
            end
            local key = lower(tostring(k))
            if key == 'function_name' then
                if not is_string(v) then
                    raise('function_name argument given to redis.register_function must be a string')
                end
                name = tostring(v)
            elseif key == 'description' then
                if not is_string(v) then
                    raise('description argument given to redis.register_function must be a string')
                end
                desc = tostring(v)
            elseif key == 'callback' then
                if type(v) ~= 'function' then
                    raise('callback argument given to redis.register_function must be a function')
                end
                callback = v
            elseif key == 'flags' then
                if type(v) ~= 'table' then
                    raise('flags argument to redis.register_function must be a table representing function flags')
                end
                flags = read_flags(v)
            else
                raise('unknown argument given to redis.register_function')
            end
        end
        if not name then
            raise('redis.register_function must get a function name argument')
        end
        if not callback then
            raise('redis.register_function must get a callback argument')
        end
    else
        name, callback = ...
        if not is_string(name) then
            raise('first argument to redis.register_function must be a string')
        end
        if type(callback) ~= 'function' then
            raise('second argument to redis.register_function must be a function')
        end
        name = tostring(name)
    end
    -- Redis checks function names with the library-name rule and its message.
    if not find(name, '^[%w_]+$') then
        raise('Library names can only contain letters, numbers, or underscores(_) and must be at least one character long')
    end
    local key = lower(name)
    if loading.names[key] then
        raise('Function already exists in the library')
    end
    loading.names[key] = true
    loading.list[#loading.list + 1] = { name = name, callback = callback, flags = flags or 0, description = desc }
end
load_redis.log = redis.log
load_redis.LOG_DEBUG, load_redis.LOG_VERBOSE, load_redis.LOG_NOTICE, load_redis.LOG_WARNING = 0, 1, 2, 3
load_redis.REDIS_VERSION = rx.version
load_redis.REDIS_VERSION_NUM = rx.version_num
local load_globals = { redis = strict_proxy(load_redis) }

local fenv = setmetatable({}, {
    __index = function(_, k)
        local v
        if loading then
            v = load_globals[k]
        else
            v = exposed[k]
        end
        if v == nil then
            error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
        end
        return v
    end,
    __newindex = readonly_error,
    __metatable = ro_meta,
})
protected[fenv] = true

-- Runs a library's compiled chunk: true and its registrations, or false and the error.
local function load_library(chunk)
    loading = { list = {}, names = {} }
    local ok, err = xpcall(chunk, handler)
    local list = loading.list
    loading = nil
    if ok then
        return true, list
    end
    return false, err
end

-- The Lua debugger's view of a stopped script's locals (Redis's ldbPrint / ldbPrintAll), called
-- from its line hook: the first Lua frame below this one is the line the script stopped at.
-- With `name`: (true, value) of the first local so named from that frame outwards (frames of
-- this prelude skipped), or false. Without: the names and values of that frame's locals and
-- their count (values may be nil).
local getinfo, getlocal = dbg.getinfo, dbg.getlocal
local function ldb_locals(name)
    local level = 2
    local info = getinfo(level, 'S')
    while info and info.what == 'C' do
        level = level + 1
        info = getinfo(level, 'S')
    end
    local names, values, count = {}, {}, 0
    while info do
        if info.what ~= 'C' and info.source ~= '=redis_api' then
            local i = 1
            while true do
                local k, v = getlocal(level, i)
                if k == nil then
                    break
                end
                if name == nil then
                    if not find(k, '(*temporary)', 1, true) then
                        count = count + 1
                        names[count], values[count] = k, v
                    end
                elseif k == name then
                    return true, v
                end
                i = i + 1
            end
        end
        if name == nil then
            return names, values, count
        end
        level = level + 1
        info = getinfo(level, 'S')
    end
    return false
end

return env, exposed, run, redis, fenv, load_library, ldb_locals
