std = "lua54"
max_line_length = 110
files["spec/**/*.lua"] = { std = "+busted" }
files[".busted"] = { globals = {} }
exclude_files = { "lua_modules/**", "build/**" }
