std = "lua54"
max_line_length = 110
files["spec/**/*.lua"] = { std = "+busted", max_line_length = 140 }
files[".busted"] = { globals = {} }
exclude_files = { "lua_modules/**", "build/**" }
